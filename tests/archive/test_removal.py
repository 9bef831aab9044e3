"""`mailyard message rm`: a removed message is gone, derived data follows, a tombstone
keeps it from coming back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from archive.importer import import_messages
from archive.models import Message, RemovedMessage, Thread, ThreadNode
from archive.queries import find_node
from archive.removal import RemovalError, remove_message
from archive.search import search_messages
from lists.manage import create_list
from tests.archive.test_ingest import deliver, make_mail
from tests.cli_runner import MailyardCli


def test_a_removed_message_is_deleted_with_its_derived_data_and_never_comes_back(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, make_mail("root@x", "topic"), "root@x")
    leak = make_mail("leak@x", "Re: topic", ["root@x"], body="password hunter2\n")
    deliver(session, mlist, leak, "leak@x")
    deliver(session, mlist, make_mail("reply@x", "Re: topic", ["root@x", "leak@x"]), "reply@x")
    assert search_messages(session, [mlist.id], "hunter2")

    tombstone = remove_message(session, mlist, "leak@x", "leaked a password", "root")
    session.commit()
    assert (tombstone.reason, tombstone.removed_by) == ("leaked a password", "root")
    assert find_node(session, mlist.id, "leak@x") is None
    assert session.scalar(select(func.count(Message.id)).where(Message.message_id == "leak@x")) == 0
    assert search_messages(session, [mlist.id], "hunter2") == []
    thread = session.scalar(select(Thread))
    assert thread.message_count == 2  # the reply keeps its place under the placeholder
    reply = session.scalar(select(ThreadNode).where(ThreadNode.message_id == "reply@x"))
    assert reply.thread_id == thread.id

    # Neither a re-delivery nor an import brings it back.
    assert deliver(session, mlist, leak, "leak@x").dropped
    report = import_messages(session, mlist, [leak])
    assert (report.imported, report.duplicates) == (0, 1)
    assert session.scalar(select(func.count(Message.id)).where(Message.message_id == "leak@x")) == 0


def test_removing_what_is_not_there_says_so(session):
    mlist = create_list(session, "dev", "owner@example.com")
    with pytest.raises(RemovalError, match="no message <none@x> is archived in the list dev"):
        remove_message(session, mlist, "none@x", "spam")
    deliver(session, mlist, make_mail("s@x", "spam"), "s@x")
    with pytest.raises(RemovalError, match="--reason"):
        remove_message(session, mlist, "s@x", "  ")
    remove_message(session, mlist, "s@x", "spam")
    with pytest.raises(RemovalError, match="was removed from dev on .*: spam"):
        remove_message(session, mlist, "s@x", "spam")


def test_a_cross_posted_message_removed_from_one_list_stays_on_the_other(session):
    a = create_list(session, "alpha", "owner@example.com")
    b = create_list(session, "beta", "owner@example.com")
    deliver(session, a, make_mail("x@x", "both"), "x@x")
    deliver(session, b, make_mail("x@x", "both"), "x@x")
    remove_message(session, a, "x@x", "off-topic here")
    session.commit()
    assert find_node(session, a.id, "x@x") is None
    assert find_node(session, b.id, "x@x") is not None


def test_message_rm_on_the_command_line(settings, session):
    run = MailyardCli(settings)
    assert run("list", "create", "dev", "--owner", "o@example.org").returncode == 0
    mlist = session.scalar(select(RemovedMessage.list_id).limit(1))  # nothing yet
    assert mlist is None
    from archive.lists import get_list

    dev = get_list(session, "dev")
    deliver(session, dev, make_mail("spam@x", "buy now"), "spam@x")
    done = run("message", "rm", "dev", "<spam@x>", "--reason", "spam")
    assert done.returncode == 0, done.stderr
    assert "removed <spam@x> from dev: spam" in done.stdout
    again = run("message", "rm", "dev", "spam@x", "--reason", "spam")
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0 and "was removed from dev" in again.stderr
    unknown = run("message", "rm", "nolist", "spam@x", "--reason", "spam")
    assert unknown.returncode == 1 and "no list named 'nolist'" in unknown.stderr


def test_a_removed_patch_leaves_its_patchset_and_a_patchset_left_empty_goes(session):
    from patchsets.models import Patchset
    from tests.patchsets.test_versions import mail as patch_mail

    mlist = create_list(session, "dev", "owner@example.com")
    mails = [
        patch_mail("[PATCH 1/2] one", msgid="p1@x"),
        patch_mail("[PATCH 2/2] two", msgid="p2@x", reply_to="p1@x"),
        patch_mail("[PATCH] alone", msgid="solo@x"),
    ]
    import_messages(session, mlist, [raw for _, raw in mails])
    session.commit()
    series = session.scalar(select(Patchset).where(Patchset.first_message_id == "p1@x"))
    assert (series.patch_count, series.received_all) == (2, True)
    remove_message(session, mlist, "p2@x", "spam")
    remove_message(session, mlist, "solo@x", "spam")
    session.commit()
    session.expire_all()
    series = session.scalar(select(Patchset).where(Patchset.first_message_id == "p1@x"))
    assert (series.patch_count, series.received_all) == (1, False)
    assert [p.message_id for p in series.patches] == ["p1@x"]
    assert session.scalar(select(Patchset).where(Patchset.first_message_id == "solo@x")) is None


def test_known_on_list_sees_the_same_message_and_tombstones_not_a_reused_id(session):
    from archive.store import known_on_list

    mlist = create_list(session, "dev", "owner@example.com")
    raw = make_mail("k@x", "kept")
    deliver(session, mlist, raw, "k@x")
    assert known_on_list(session, mlist.id, "k@x", raw)
    assert not known_on_list(session, mlist.id, "k@x", make_mail("k@x", "another"))
    remove_message(session, mlist, "k@x", "spam")
    assert known_on_list(session, mlist.id, "k@x", make_mail("k@x", "another"))


def test_removing_one_of_two_messages_sent_with_one_id_keeps_the_other(session):
    mlist = create_list(session, "dev", "owner@example.com")
    deliver(session, mlist, make_mail("d@x", "first"), "d@x")
    spam = make_mail("d@x", "spam with a stolen id", body="buy now\n")
    spam_pk = deliver(session, mlist, spam, "d@x").message_pk
    generated = session.get(Message, spam_pk).message_id
    remove_message(session, mlist, generated, "spam")
    session.commit()
    assert find_node(session, mlist.id, generated) is None
    assert find_node(session, mlist.id, "d@x").message.subject == "first"
    assert deliver(session, mlist, spam, "d@x").dropped  # known by its content, removed
