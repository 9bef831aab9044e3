"""Tickets named by pushed commits (`trackers.commit_refs`), with real `git push`:
`Fixes: bugs#N` by a triager resolves; by someone without triage only references; a
commit pushed to two branches is noted once; `References:` and git's own `Fixes: SHA`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from core.db import get_engine
from repos import storage
from repos import tasks as repo_tasks
from repos.hooks import AFTER_PUSH
from repos.models import Push, PushVia
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.query_count import counted_statements, selects
from tests.repos.helpers import fast_import_commits, git, git_env
from trackers.commands import Resolution, Status
from trackers.commit_refs import note_pushed_ticket_refs
from trackers.models import EventKind, Ticket, TicketCommit, TicketEvent
from trackers.tickets import Origin, create_tracker, grant, open_ticket


@pytest.fixture
def world(session, settings, monkeypatch, tmp_path):
    monkeypatch.setattr(AFTER_PUSH, "_functions", [note_pushed_ticket_refs])
    mia = make_user(session, "mia", "mia@example.org")
    tracker = create_tracker(session, "bugs", "mia@example.org")
    tickets = [
        open_ticket(session, tracker, f"bug {i}", "", Origin("ann@example.org")) for i in (1, 2, 3)
    ]
    repository = create_repository(session, settings, mia, "tool")
    session.commit()
    tree = tmp_path / "tree"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "a").write_text("a\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "start")
    bare = storage.path_of(settings, repository)
    return {"settings": settings, "mia": mia, "tracker": tracker, "tickets": tickets,
            "repo": repository, "bare": bare, "tree": tree}  # fmt: skip


def commit(world, message: str) -> None:
    path = world["tree"] / "a"
    path.write_text(path.read_text() + "x\n")
    git(world["tree"], "commit", "-q", "-am", message)


def push(session, world, pusher, *refspecs: str) -> None:
    recording = replace(world["settings"], tasks_eager=False)
    env = storage.git_environment(recording, world["repo"], pusher_id=pusher.id, via=PushVia.ssh)
    result = git(
        world["tree"], "push", "-q", str(world["bare"]), *refspecs, env={**env, **git_env()}
    )
    assert result.returncode == 0, result.stderr
    session.expire_all()
    pushed = session.scalars(select(Push).order_by(Push.id.desc())).first()
    assert repo_tasks.push_hooks_task(pushed.id)
    session.expire_all()


def _ticket(session, number: int) -> Ticket:
    return session.scalars(select(Ticket).where(Ticket.number == number)).one()


def test_a_triager_resolves_and_a_second_branch_notes_nothing_new(session, world) -> None:
    commit(world, "fix one\n\nFixes: bugs#1\nImplements: ~mia/bugs#2\nReferences: bugs#3")
    commit(world, 'other\n\nFixes: 1234abcd ("bugs#3 again")')
    push(session, world, world["mia"], "main")
    one, two, three = (_ticket(session, n) for n in (1, 2, 3))
    assert (one.status, one.resolution) == (Status.resolved, Resolution.fixed)
    assert (two.status, two.resolution) == (Status.resolved, Resolution.implemented)
    assert three.status is Status.reported  # References: only refers
    refs = session.scalars(select(TicketEvent).where(TicketEvent.kind == EventKind.reference)).all()
    assert len(refs) == 3 and all("/~mia/tool/commit/" in e.data["url"] for e in refs)
    push(session, world, world["mia"], "main:refs/heads/stable")  # a new branch, same commits
    assert len(session.scalars(select(TicketCommit)).all()) == 3


def test_without_triage_only_a_reference(session, world) -> None:
    bo = make_user(session, "bo", "bo@example.org")
    grant(session, world["tracker"], "bo@example.org", ["browse", "comment"])
    session.commit()
    commit(world, "fix one\n\nCloses: bugs#1\nCloses: ~someone/bugs#2")
    push(session, world, bo, "main")
    assert _ticket(session, 1).status is Status.reported
    assert [t.ticket_id for t in session.scalars(select(TicketCommit))] == [_ticket(session, 1).id]


def test_a_push_of_a_thousand_commits_takes_a_flat_number_of_queries(session, world) -> None:
    messages = [f"change {i}" for i in range(1000)]
    for i in range(0, 1000, 50):  # 20 commits name tickets, the rest nothing
        messages[i] = f"change {i}\n\nReferences: bugs#{1 + i % 3}\nFixes: bugs#1"
    fast_import_commits(world["tree"], messages)
    with counted_statements(get_engine(world["settings"])) as statements:
        push(session, world, world["mia"], "main")
    noted = sum(len({1, 1 + i % 3}) for i in range(0, 1000, 50))  # once per commit and ticket
    assert len(session.scalars(select(TicketCommit)).all()) == noted
    assert _ticket(session, 1).status is Status.resolved
    # A few per ticket event (its notification reads the subscribers), none per commit.
    assert len(selects(statements)) <= 20 + 3 * noted, len(selects(statements))
