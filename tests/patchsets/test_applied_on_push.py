"""Patches marked applied by a push, through the real push path (`git push` into the hosted
repository, git's post-receive hook records it, the push hooks run as the Celery task runs
them): by patch id after a plain `git am`; by the rebase fallback after the base moved
under the series (where Patchwork's hash, shown here, misses); by Message-ID from a
`Link:` trailer; never for a squash; every copy and version; few queries for a long push."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.importer import import_messages
from core.db import get_engine
from lists.manage import create_list
from mailyard.wiring import BLUEPRINTS
from patchsets.applied_on_push import mark_applied_on_push
from patchsets.models import MatchMethod, PatchCommit, Patchset, PatchsetStatus
from patchsets.repositories import link_repository
from repos import storage
from repos import tasks as repo_tasks
from repos.access import set_visibility
from repos.hooks import AFTER_PUSH
from repos.models import HooksState, Push, PushVia
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.patchsets.patchwork_hash import patchwork_hash
from tests.patchsets.test_apply import HELLO
from tests.query_count import counted_statements, selects
from tests.repos.helpers import fast_import_commits, git, git_env
from web.app import create_app

LOOP = "".join(f"step {i}\n" for i in range(1, 31))


@pytest.fixture
def hooked(monkeypatch):
    functions = list(AFTER_PUSH._functions)
    if mark_applied_on_push not in functions:
        functions.append(mark_applied_on_push)
    monkeypatch.setattr(AFTER_PUSH, "_functions", functions)


@pytest.fixture
def world(session, settings, hooked, tmp_path):
    """dev linked to ~mia/tool (main: hello.txt, loop.txt); Ada's 3-patch series against
    it archived on dev (and a re-send of patch 3 alone); Mia's clone to push from."""
    mlist = create_list(session, "dev", "owner@example.com")
    mia = make_user(session, "mia", "mia@example.org")
    repository = create_repository(session, settings, mia, "tool")
    link_repository(session, mlist, repository, default=True)
    session.commit()
    bare = storage.path_of(settings, repository)
    ada = tmp_path / "ada"
    ada.mkdir()
    git(ada, "init", "-q", "-b", "main")
    (ada / "hello.txt").write_text(HELLO)
    (ada / "loop.txt").write_text(LOOP)
    git(ada, "add", ".")
    git(ada, "commit", "-q", "-m", "start")
    git(ada, "push", "-q", str(bare), "main")
    base = git(ada, "rev-parse", "HEAD").stdout.strip()
    (ada / "hello.txt").write_text(HELLO.replace("line 10\n", "line ten\n"))
    git(ada, "commit", "-q", "-am", "hello: spell ten")
    (ada / "loop.txt").write_text(LOOP.replace("step 20\n", "step twenty\n"))
    git(ada, "commit", "-q", "-am", "loop: spell twenty")
    (ada / "new.txt").write_text("new\n")
    git(ada, "add", ".")
    git(ada, "commit", "-q", "-m", "add new.txt")
    out = tmp_path / "out"
    git(ada, "format-patch", "-q", "--cover-letter", "--thread", f"--base={base}",
        "-o", str(out), f"{base}..HEAD")  # fmt: skip
    mails = [
        p.read_bytes().replace(b"*** SUBJECT HERE ***", b"Spell things")
        for p in sorted(out.iterdir())
    ]
    import_messages(session, mlist, mails)
    mia_tree = tmp_path / "mia"
    git(tmp_path, "clone", "-q", str(bare), str(mia_tree))
    return {"settings": settings, "mia": mia, "repo": repository, "bare": bare,
            "tree": mia_tree, "out": out, "mails": mails, "list": mlist}  # fmt: skip


def push(session, world, *refspecs: str) -> int:
    """`git push` as Mia over Mailyard's push path, then the push's hooks; its id."""
    recording = replace(world["settings"], tasks_eager=False)  # the hooks run here
    env = storage.git_environment(
        recording, world["repo"], pusher_id=world["mia"].id, via=PushVia.ssh
    )
    result = git(
        world["tree"], "push", "-q", str(world["bare"]), *refspecs, env={**env, **git_env()}
    )
    assert result.returncode == 0, result.stderr
    session.expire_all()
    pushed = session.scalars(select(Push).order_by(Push.id.desc())).first()
    assert pushed is not None and pushed.hooks_state is HooksState.pending
    assert repo_tasks.push_hooks_task(pushed.id)
    session.expire_all()
    return pushed.id


def am(world, *extra: str) -> None:
    patches = sorted(str(p) for p in world["out"].iterdir() if not p.name.startswith("0000"))
    git(world["tree"], "am", "-q", *extra, *patches)


def series(session) -> Patchset:
    return session.scalars(select(Patchset).where(Patchset.total == 3)).one()


def series_v1(session) -> Patchset:
    return session.scalars(select(Patchset).where(Patchset.version == 1)).one()


def methods(session) -> dict[str, set[MatchMethod]]:
    rows = session.scalars(select(PatchCommit)).all()
    out: dict[str, set[MatchMethod]] = {}
    for row in rows:
        out.setdefault(row.commit_sha, set()).add(row.method)
    return out


def test_a_series_applied_with_git_am_and_pushed_is_marked_by_patch_id(session, world) -> None:
    am(world)
    push(session, world, "main")
    assert series(session).status is PatchsetStatus.applied
    assert series(session).status_by == "~mia"
    found = methods(session)
    assert len(found) == 3 and all(m == {MatchMethod.patch_id} for m in found.values())


def test_every_version_of_a_patch_is_marked(session, world) -> None:
    v2 = []
    for mail in world["mails"]:
        for header in (b"Message-Id: <", b"In-Reply-To: <", b"References: <"):
            mail = mail.replace(header, header + b"v2.")
        v2.append(mail.replace(b"[PATCH ", b"[PATCH v2 "))
    import_messages(session, world["list"], v2)
    am(world)
    push(session, world, "main")
    newer = session.scalars(select(Patchset).where(Patchset.version == 2)).one()
    assert newer.status is PatchsetStatus.applied
    assert series_v1(session).status is PatchsetStatus.superseded  # decided by v2: kept
    assert len(session.scalars(select(PatchCommit)).all()) == 6  # both versions' patches


def test_a_rebased_series_is_still_marked_where_patchworks_hash_misses(session, world) -> None:
    tree = world["tree"]
    # Upstream moved: lines next to each change are edited, so every patch's context
    # (and its hunk) differs from what was mailed.
    (tree / "hello.txt").write_text(HELLO.replace("line 12\n", "line twelve\n"))
    (tree / "loop.txt").write_text(LOOP.replace("step 22\n", "step twenty-two\n"))
    git(tree, "commit", "-q", "-am", "upstream: spell neighbours")
    am(world, "-3")
    mailed = {p.name: p.read_text() for p in world["out"].iterdir()}
    for sha, name in zip(
        git(tree, "rev-list", "--reverse", "HEAD~3..HEAD").stdout.split(),
        sorted(n for n in mailed if not n.startswith("0000"))[:2],
        strict=False,
    ):
        committed = git(tree, "diff", f"{sha}~", sha).stdout
        sent = mailed[name][mailed[name].index("diff --git") :]
        assert patchwork_hash(committed) != patchwork_hash(sent)  # Patchwork: no match
    push(session, world, "main")
    assert series(session).status is PatchsetStatus.applied
    found = methods(session)
    assert sorted(m.value for ms in found.values() for m in ms) == sorted(
        ["similar", "similar", "patch_id"]
    )  # new.txt's patch did not change: its patch id still matches
    page = _page(world, series(session))
    assert "(same author, subject and files)" in page and "(by patch id)" in page


def test_a_squashed_series_is_not_marked(session, world) -> None:
    am(world)
    tree = world["tree"]
    git(tree, "reset", "-q", "--soft", "HEAD~3")
    git(tree, "commit", "-q", "-m", "everything at once")
    push(session, world, "main")
    assert series(session).status is PatchsetStatus.proposed
    assert session.scalars(select(PatchCommit)).all() == []


def test_a_partly_pushed_series_is_shown_partially_applied(session, world) -> None:
    am(world)
    push(session, world, "HEAD~1:refs/heads/main")  # the first two patches only
    assert series(session).status is PatchsetStatus.proposed
    page = _page(world, series(session))
    assert "Partially applied: 2 of 3 patches have a commit." in page
    assert "no commit yet" in page and "~mia/tool " in page
    set_visibility(world["repo"], "private")
    session.commit()
    assert "Partially applied" not in _page(world, series(session))  # not to strangers


def _page(world, patchset: Patchset) -> str:
    app = create_app(world["settings"], BLUEPRINTS)
    return app.test_client().get(f"/dev/patches/{patchset.id}/").get_data(as_text=True)


def test_link_trailers_match_by_message_id_even_when_the_diff_was_edited(session, world) -> None:
    tree = world["tree"]
    patchset = series(session)
    for patch in sorted(patchset.patches, key=lambda p: p.position):
        body = f"{patch.message.subject}\n\nEdited on the way in.\n\nLink: https://lore.kernel.org/r/{patch.message_id}\n"
        (tree / f"edited{patch.position}.txt").write_text(f"{patch.position}\n")
        git(tree, "add", ".")
        git(tree, "commit", "-q", "-m", body)
    pushed = push(session, world, "HEAD:refs/heads/topic")  # a new branch
    found = methods(session)
    assert len(found) == 3 and all(m == {MatchMethod.message_id} for m in found.values())
    assert {r.push_id for r in session.scalars(select(PatchCommit))} == {pushed}
    assert series(session).status is PatchsetStatus.applied


def test_a_long_push_takes_a_flat_number_of_queries(session, world) -> None:
    am(world)
    tree = world["tree"]
    fast_import_commits(tree, [f"change {i}" for i in range(400)])
    with counted_statements(get_engine(world["settings"])) as statements:
        push(session, world, "main")
    assert series(session).status is PatchsetStatus.applied
    assert len(selects(statements)) < 40, len(selects(statements))


def test_commit_diffs_hash_like_git_patch_id(world) -> None:
    from patchsets.patch_id import git_patch_id
    from repos.commit_diffs import commit_diffs

    am(world)
    tree = world["tree"]
    shas = git(tree, "rev-list", "HEAD~3..HEAD").stdout.split()
    diffs = commit_diffs(Path(tree) / ".git", shas)
    for sha in shas:
        shown = subprocess.run(
            ["git", "patch-id", "--stable"], cwd=tree, env=git_env(), text=True, check=True,
            input=git(tree, "show", sha).stdout, capture_output=True,
        ).stdout.split()[0]  # fmt: skip
        assert git_patch_id(diffs[sha]) == shown
