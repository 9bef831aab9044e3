"""Re-rolls through the real ingest: what supersedes what, by thread, by change-id, by
an explicit Supersedes:, and partial re-rolls that replace one patch."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from archive.importer import import_messages
from lists.manage import create_list
from patchsets.models import Patchset, PatchsetStatus
from patchsets.queries import current_patches, version_history

_ids = itertools.count(1)


def mail(
    subject: str,
    *,
    sender="Ada <ada@example.com>",
    body="Fix.\n",
    diff=True,
    reply_to: str | None = None,
    msgid: str | None = None,
    minute: int = 0,
) -> tuple[str, bytes]:
    msgid = msgid or f"m{next(_ids)}@example.com"
    text = body
    if diff:
        text += (
            "---\ndiff --git a/f.txt b/f.txt\nindex e69de29..ce01362 100644\n"
            f"--- a/f.txt\n+++ b/f.txt\n@@ -0,0 +1 @@\n+{subject}\n"
        )
    headers = [
        f"From: {sender}",
        "To: dev@lists.example.org",
        f"Subject: {subject}",
        f"Date: Mon, 01 Jan 2024 12:{minute:02d}:00 +0000",
        f"Message-ID: <{msgid}>",
    ]
    if reply_to:
        headers += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    return msgid, ("\n".join(headers) + "\n\n" + text).encode()


@pytest.fixture
def feed(session):
    mlist = create_list(session, "dev", "owner@example.org")
    session.commit()

    def feed_mails(*mails: tuple[str, bytes]) -> list[Patchset]:
        import_messages(session, mlist, [raw for _, raw in mails])
        session.commit()
        session.expire_all()
        return list(session.scalars(select(Patchset).order_by(Patchset.id)))

    return feed_mails


def test_v2_in_reply_to_v1_supersedes_it(feed):
    v1, raw1 = mail("[PATCH] widget: fix it")
    (v1_set,) = feed((v1, raw1))
    _, v2_set = feed(mail("[PATCH v2] widget: fix it properly", reply_to=v1, minute=5))
    assert v2_set.previous_id == v1_set.id
    assert v1_set.status is PatchsetStatus.superseded and v1_set.superseded_by_id == v2_set.id


def test_v2_in_a_new_thread_supersedes_by_subject(feed):
    feed(mail("[PATCH 1/2] widget: one"), mail("[PATCH 2/2] widget: two"))
    sets = feed(
        mail("[PATCH v2 1/2] widget: one", minute=9), mail("[PATCH v2 2/2] widget: two", minute=9)
    )
    assert len(sets) == 2
    v1 = next(p for p in sets if p.version == 1 and p.patch_count == 2)
    v2 = next(p for p in sets if p.version == 2)
    assert v2.previous_id == v1.id and v1.status is PatchsetStatus.superseded


def test_another_submitters_v2_supersedes_nothing(feed):
    feed(mail("[PATCH] widget: fix it"))
    sets = feed(mail("[PATCH v2] widget: fix it", sender="Bob <bob@example.com>", minute=5))
    assert all(p.previous_id is None for p in sets)
    assert sets[0].status is PatchsetStatus.proposed


def test_change_id_links_versions_whatever_their_names(feed):
    feed(mail("[PATCH 0/1] first name", diff=False, body="Blurb.\n\nchange-id: 20240101-topic-1\n"))
    sets = feed(
        mail(
            "[PATCH v2 0/1] another name",
            diff=False,
            body="B.\n\nchange-id: 20240101-topic-1\n",
            minute=30,
        )
    )
    assert sets[1].previous_id == sets[0].id


def test_explicit_supersedes_line(feed):
    old, raw = mail("[PATCH] first try")
    feed((old, raw))
    sets = feed(mail("[PATCH] different words", body=f"Fix.\n\nSupersedes: <{old}>\n", minute=3))
    assert sets[1].previous_id == sets[0].id


def test_resend_supersedes_the_same_version(feed):
    feed(mail("[PATCH] widget: fix it"))
    sets = feed(mail("[PATCH RESEND] widget: fix it", minute=40))
    assert sets[1].resend and sets[1].previous_id == sets[0].id


def test_partial_reroll_replaces_one_patch(feed):
    cover, raw = mail("[PATCH v5 0/3] widgets", diff=False)
    p = [mail(f"[PATCH v5 {i}/3] widget {i}", reply_to=cover) for i in (1, 2, 3)]
    feed((cover, raw), *p)
    sets = feed(mail("[PATCH v5.1 2/3] widget 2, fixed", reply_to=p[1][0], minute=20))
    (v5,) = sets
    assert [x.message_id for x in current_patches(v5)] == [p[0][0], mail_id_of(v5, 2), p[2][0]]
    assert mail_id_of(v5, 2) != p[1][0]
    assert sum(x.replaced for x in v5.patches) == 1


def mail_id_of(patchset: Patchset, position: int) -> str:
    return next(x.message_id for x in current_patches(patchset) if x.position == position)


def test_version_history_lists_every_version_oldest_first(feed, session):
    a, raw = mail("[PATCH] widget")
    feed((a, raw))
    b, raw = mail("[PATCH v2] widget", reply_to=a, minute=1)
    feed((b, raw))
    sets = feed(mail("[PATCH v3] widget", reply_to=b, minute=2))
    assert [p.version for p in version_history(session, sets[1])] == [1, 2, 3]


def test_reindex_keeps_statuses_and_adds_no_events(feed, session):
    from archive.importer import reindex
    from archive.models import MailingList
    from patchsets.models import PatchsetEvent
    from patchsets.status import change_status

    a, raw = mail("[PATCH] widget")
    (v1,) = feed((a, raw))
    mlist = session.get(MailingList, v1.list_id)
    change_status(session, mlist, v1, PatchsetStatus.approved, actor="owner@example.org", via="web")
    session.commit()
    b, raw_b = mail("[PATCH] gadget", minute=1)
    c, raw_c = mail("[PATCH v2] gadget", reply_to=b, minute=2)
    feed((b, raw_b), (c, raw_c))
    events_before = session.query(PatchsetEvent).count()
    reindex(session)
    session.commit()
    session.expire_all()
    by_name = {(p.name, p.version): p for p in session.scalars(select(Patchset))}
    assert by_name[("widget", 1)].status is PatchsetStatus.approved
    assert by_name[("gadget", 1)].status is PatchsetStatus.superseded
    assert by_name[("gadget", 2)].previous_id == by_name[("gadget", 1)].id
    assert session.query(PatchsetEvent).count() == events_before


PULL_BODY = (
    "The following changes since commit 0123456789abcdef:\n\n  base\n\n"
    "are available in the Git repository at:\n\n"
    "  https://git.example.org/ada/widget.git widget-fix\n\nfor you to fetch.\n"
)


@pytest.mark.parametrize("same_batch", [True, False])
def test_a_pull_request_is_never_the_earlier_version(feed, same_batch):
    pull, raw = mail("[GIT PULL] widget: fix it", body=PULL_BODY, diff=False)
    patch = mail("[PATCH v2] widget: fix it", reply_to=pull, minute=5)
    sets = feed((pull, raw), patch) if same_batch else (feed((pull, raw)), feed(patch))[1]
    pull_set, patch_set = sets
    assert pull_set.pull_url == "https://git.example.org/ada/widget.git"
    assert patch_set.previous_id is None and pull_set.status is PatchsetStatus.proposed


def test_supersedes_in_a_reviewers_reply_links_the_versions(feed, session):
    from patchsets.models import GivenTrailer
    from patchsets.queries import collect_trailers

    v1, raw1 = mail("[PATCH] first try")
    v2, raw2 = mail("[PATCH] other words entirely", minute=3)
    sets = feed((v1, raw1), (v2, raw2))
    assert sets[1].previous_id is None  # nothing ties them: different names and diffs
    reply = mail(
        "Re: [PATCH] other words entirely",
        sender="Rob <rob@example.org>",
        body=(
            f"> Fix.\n> Based-on: <quoted@example.com>\n\nThis re-rolls the first try.\n\n"
            f"Supersedes: <{v1}>\nBased-on: <base@example.com>\n"
            "Reviewed-by: Rob <rob@example.org>\n"
        ),
        diff=False,
        reply_to=v2,
        minute=5,
    )
    sets = feed(reply)
    assert sets[1].previous_id == sets[0].id
    assert sets[0].superseded_by_id == sets[1].id
    assert sets[0].status is PatchsetStatus.superseded
    assert sets[1].depends_on == ["base@example.com"]
    # Series links, not trailers: only the Reviewed-by goes to the commit message.
    given = session.scalars(select(GivenTrailer.name)).all()
    assert given == ["Reviewed-by"]
    collected = [
        c.trailer.name for t in collect_trailers(session, sets[1]).values() for c in t.given
    ]
    assert collected == ["Reviewed-by"]
