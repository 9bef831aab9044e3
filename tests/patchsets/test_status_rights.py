"""Who may set a patchset's status: whoever may `moderate` the list (owner, admin, the
owning group's owners and maintainers, an access entry or defaults with moderate) may set
any; the submitter their three; no one else anything. By mail, the authenticated From
address acts as the user who confirmed it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from accounts.access import ANONYMOUS, Actor, actor_for_user
from accounts.models import Group, GroupMember, GroupRole, User, UserAddress
from archive.ingest import ingest_messages
from archive.models import Message
from archive.store import store_message
from lists.manage import change_list_settings, grant_list_access
from patchsets.models import Patchset, PatchsetEvent, PatchsetStatus, StatusRequest
from patchsets.status import (
    SUBMITTER_STATUSES,
    StatusRefused,
    allowed_statuses,
    change_status,
    rename_patchset,
)
from tests.web.conftest import Seeder, make_mail

NOW = datetime(2026, 3, 1, tzinfo=UTC)
OWNER = "owner@example.com"  # the Seeder's list owner
PATCH = """Quieter.

Signed-off-by: Sam <sam@example.net>
---
diff --git a/hello.txt b/hello.txt
index 3b18e51..e965047 100644
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-HELLO
+hello
"""
EVERY = set(PatchsetStatus)


def user(session, username: str, *addresses: str, confirmed: bool = True) -> User:
    person = User(username=username, confirmed_at=NOW)
    session.add(person)
    session.flush()
    for address in addresses:
        session.add(
            UserAddress(
                user_id=person.id,
                address=address,
                address_key=address.lower(),
                confirmed_at=NOW if confirmed else None,
            )
        )
    session.commit()
    return person


@pytest.fixture
def dev(session):
    """The list `dev` of group ~acme (max maintains it, mia is a member), with a
    one-patch patchset sent by sam@example.net."""
    seeder = Seeder(session)
    mlist = seeder.make_list("dev")
    acme = Group(name="acme")
    session.add(acme)
    session.flush()
    for name, role in (("max", GroupRole.maintainer), ("mia", GroupRole.member)):
        person = user(session, name, f"{name}@example.com")
        session.add(GroupMember(group_id=acme.id, user_id=person.id, role=role))
    change_list_settings(session, mlist, owner_group=acme)
    session.commit()
    seeder.post(
        mlist,
        "quiet@example.net",
        "[PATCH] hello: quieter",
        body=PATCH,
        sender="Sam <sam@example.net>",
    )
    return mlist


def patchset_of(session, mlist) -> Patchset:
    session.expire_all()
    return session.scalars(select(Patchset).where(Patchset.list_id == mlist.id)).one()


def actor(session, username: str) -> Actor:
    return actor_for_user(session, session.scalars(select(User).filter_by(username=username)).one())


def test_moderators_may_set_any_status_and_others_none(session, dev):
    patchset = patchset_of(session, dev)
    user(session, "rita", "rita@example.com")
    user(session, "root", "root@example.com").is_admin = True
    user(session, "mo", "mo@example.com")
    grant_list_access(session, dev, "~mo", "browse,moderate")
    session.commit()
    cases = {
        "max": EVERY,  # the owning group's maintainer
        "root": EVERY,  # a site admin
        "mo": EVERY,  # an access entry with moderate
        "mia": set(),  # a group member: member rights have no moderate
        "rita": set(),
    }
    for name, expected in cases.items():
        assert set(allowed_statuses(session, dev, patchset, actor(session, name))) == expected
    assert set(allowed_statuses(session, dev, patchset, OWNER)) == EVERY  # the owner's address
    assert allowed_statuses(session, dev, patchset, ANONYMOUS) == []
    assert allowed_statuses(session, dev, patchset, None) == []


def test_defaults_with_moderate_let_anyone_signed_in_set_any_status(session, dev):
    patchset = patchset_of(session, dev)
    change_list_settings(session, dev, default_rights="browse,reply,post,moderate")
    session.commit()
    someone = Actor(addresses=frozenset({"someone@example.org"}))
    assert set(allowed_statuses(session, dev, patchset, someone)) == EVERY
    assert allowed_statuses(session, dev, patchset, ANONYMOUS) == []


def test_submitter_keeps_three_statuses_from_any_confirmed_address(session, dev):
    patchset = patchset_of(session, dev)
    user(session, "sam", "samuel@example.org", "sam@example.net")
    assert set(allowed_statuses(session, dev, patchset, actor(session, "sam"))) == set(
        SUBMITTER_STATUSES
    )
    with pytest.raises(StatusRefused, match="list owner"):
        change_status(
            session, dev, patchset, PatchsetStatus.approved, actor=actor(session, "sam"), via="web"
        )


def test_the_history_names_an_actor_by_the_label_given(session, dev):
    patchset = patchset_of(session, dev)
    change_status(
        session,
        dev,
        patchset,
        PatchsetStatus.approved,
        actor=actor(session, "max"),
        via="web",
        label="max@example.com",
    )
    session.commit()
    event = session.scalars(select(PatchsetEvent)).one()
    assert (event.actor, event.new_status) == ("max@example.com", "approved")
    assert patch_status(session, dev) is PatchsetStatus.approved


def test_rename_is_for_moderators(session, dev):
    patchset = patchset_of(session, dev)
    rename_patchset(session, dev, patchset, "Hush", actor=actor(session, "max"))
    assert patchset.name == "Hush" and patchset.custom_name
    with pytest.raises(StatusRefused, match="may rename"):
        rename_patchset(session, dev, patchset, "Loud", actor=actor(session, "mia"))


# -- by mail --------------------------------------------------------------------------------


def reply_by_mail(session, mlist, sender: str, status: str, *, dkim: bool) -> None:
    """A reply asking for `status`, stored as intake stores it (DKIM verdict included),
    then ingested."""
    msgid = f"status-{sender}-{status}@example.com"
    raw = make_mail(
        msgid,
        "Re: [PATCH] hello: quieter",
        ("quiet@example.net",),
        body=f"Thanks.\n\n!status {status}\n",
        sender=sender,
    )
    result = store_message(session, raw, msgid, [mlist.id])
    message = session.get(Message, result.message_pk)
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    message.dkim_result, message.dkim_domain, message.dkim_aligned = (
        ("pass", domain, True) if dkim else ("none", "", False)
    )
    session.commit()
    ingest_messages(session, [result.message_pk])
    session.commit()


def patch_status(session, mlist) -> PatchsetStatus:
    return patchset_of(session, mlist).status


def outcomes(session) -> list[str]:
    return [r.outcome for r in session.scalars(select(StatusRequest).order_by(StatusRequest.id))]


def test_a_group_maintainer_approves_by_authenticated_mail(session, dev):
    reply_by_mail(session, dev, "Max <max@example.com>", "approved", dkim=True)
    assert patch_status(session, dev) is PatchsetStatus.approved
    assert outcomes(session) == ["applied (dkim)"]
    event = session.scalars(select(PatchsetEvent)).one()
    assert (event.actor, event.via) == ("max@example.com", "email")


def test_mail_still_needs_authentication(session, dev):
    reply_by_mail(session, dev, "Max <max@example.com>", "approved", dkim=False)
    assert patch_status(session, dev) is PatchsetStatus.proposed
    assert outcomes(session)[0].startswith("refused: max@example.com is not authenticated")


def test_an_unconfirmed_address_of_a_maintainer_does_not_act_for_them(session, dev):
    max_ = session.scalars(select(User).filter_by(username="max")).one()
    session.add(
        UserAddress(user_id=max_.id, address="max@elsewhere.org", address_key="max@elsewhere.org")
    )
    session.commit()
    reply_by_mail(session, dev, "Max <max@elsewhere.org>", "approved", dkim=True)
    assert patch_status(session, dev) is PatchsetStatus.proposed
    assert "may not change the status" in outcomes(session)[0]
