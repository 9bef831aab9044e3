"""Who may see and use a list on the web: `browse` on public, unlisted and private lists
for every kind of visitor, a list one may not browse answering exactly as one that does
not exist, the index and /all/ showing only what the visitor may read, the owner's
settings page (CSRF-protected forms), and who may set a patchset's status."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from accounts.access import ANONYMOUS, Actor, actor_for_user
from accounts.models import Group, GroupMember, GroupRole, User
from lists.access import browsable_list_ids, may, visible_lists
from lists.manage import change_list_settings, grant_list_access
from patchsets.models import Patchset, PatchsetStatus
from tests.accounts.helpers import make_user
from web.auth import login_link

NOW = datetime(2026, 3, 1, tzinfo=UTC)
OWNER = "owner@example.com"  # the Seeder's list owner
PATCH = """Make it quieter.

Signed-off-by: Sam Submitter <sam@example.net>
---
diff --git a/hello.txt b/hello.txt
index 3b18e51..e965047 100644
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-HELLO
+hello
"""


# -- helpers other access tests use too ---------------------------------------------------


def make_group(session, name: str, **roles: GroupRole) -> Group:
    """A group with the given users (by username) in the given roles."""
    group = Group(name=name)
    session.add(group)
    session.flush()
    for username, role in roles.items():
        user = session.query(User).filter_by(username=username).one()
        session.add(GroupMember(group_id=group.id, user_id=user.id, role=role))
    session.commit()
    return group


def sign_in_as(client, settings, address: str) -> str:
    """Sign in as the user who confirmed `address` (or as the bare address) through a
    login link, as a person would; returns the session's CSRF token."""
    client.post("/logout", data={"csrf_token": _csrf(client)})
    path = login_link(settings, address).removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post(path, data={"csrf_token": csrf})
    return _csrf(client)


def sign_out(client) -> None:
    with client.session_transaction() as s:
        s.clear()


def _csrf(client) -> str:
    with client.session_transaction() as s:
        s.setdefault("csrf", "test-csrf-token")
        return s["csrf"]


def not_found_body(client, path: str, name: str, ghost: str = "no-such-list") -> str:
    """The 404 body for `path` with the list `name` swapped for one that was never made,
    swapped back: what a list someone may not browse must answer, byte for byte."""
    response = client.get(path.replace(f"/{name}/", f"/{ghost}/"))
    assert response.status_code == 404
    return response.get_data(as_text=True).replace(ghost, name)


# -- the world the tests below share ------------------------------------------------------


@pytest.fixture
def world(seed, session):
    """Lists pub (public), unl (unlisted) and priv (private), all owned by the group
    ~acme, each with one thread; and people related to them in every way."""
    names = {}
    for name, visibility in (("pub", "public"), ("unl", "unlisted"), ("priv", "private")):
        mlist = seed.make_list(name, f"the {visibility} list")
        change_list_settings(session, mlist, visibility=visibility)
        names[name] = mlist
    session.commit()
    for name, mlist in names.items():
        seed.post(mlist, f"hello-{name}@example.com", f"Greetings from {name}")
    make_user(session, "olivia", OWNER)
    make_user(session, "max", "max@example.com")
    make_user(session, "mia", "mia@example.com")
    make_user(session, "rita", "rita@example.com")
    make_user(session, "sol", "sol@example.com")
    make_user(session, "stan", "stan@example.com")
    make_user(session, "ada", "ada@example.com", admin=True)
    acme = make_group(session, "acme", max=GroupRole.maintainer, mia=GroupRole.member)
    for mlist in names.values():
        change_list_settings(session, mlist, owner_group=acme)
        grant_list_access(session, mlist, "~rita", "browse")  # a reader
        grant_list_access(session, mlist, "sol@example.com", "post")  # shut out of browse
    session.commit()
    return names


# Who may browse which list: (address signed in as, or None for anonymous) -> lists.
EVERYONE = {"pub", "unl"}
BROWSE = {
    None: EVERYONE,
    "stan@example.com": EVERYONE,  # a stranger
    "rita@example.com": EVERYONE | {"priv"},  # access entry with browse
    "sol@example.com": set(),  # access entry without browse: shut out everywhere
    OWNER: EVERYONE | {"priv"},
    "max@example.com": EVERYONE | {"priv"},  # the owning group's maintainer
    "mia@example.com": EVERYONE | {"priv"},  # the owning group's member
    "ada@example.com": EVERYONE | {"priv"},  # a site admin
    "nobody@example.org": EVERYONE,  # signed in by link as an address with no account
}


@pytest.mark.parametrize("who", list(BROWSE))
def test_browse_decides_every_list_view(client, settings, world, who):
    if who is not None:
        sign_in_as(client, settings, who)
    for name in ("pub", "unl", "priv"):
        for path in (
            f"/{name}/",
            f"/{name}/new.atom",
            f"/{name}/?q=greetings",
            f"/{name}/hello-{name}@example.com/",
            f"/{name}/hello-{name}@example.com/raw",
            f"/{name}/hello-{name}@example.com/T/",
            f"/{name}/hello-{name}@example.com/t.mbox.gz",
            f"/{name}/patches",
        ):
            response = client.get(path)
            if name in BROWSE[who]:
                assert response.status_code == 200, (who, path)
            else:
                assert response.status_code == 404, (who, path)
                assert response.get_data(as_text=True) == not_found_body(client, path, name)


def test_a_refused_list_and_a_missing_one_answer_alike_for_search_mbox_too(client, world):
    for name in ("priv", "no-such-list"):
        response = client.post(f"/{name}/?q=greetings&x=m")
        assert response.status_code == 404
    missing = client.post("/no-such-list/?q=greetings&x=m").get_data(as_text=True)
    refused = client.post("/priv/?q=greetings&x=m").get_data(as_text=True)
    assert refused == missing.replace("no-such-list", "priv")


@pytest.mark.parametrize("who", [None, "stan@example.com", "rita@example.com", OWNER])
def test_index_lists_public_lists_and_those_the_visitor_is_given(client, settings, world, who):
    if who is not None:
        sign_in_as(client, settings, who)
    page = client.get("/").get_data(as_text=True)
    shown = set(re.findall(r'<a href="/(pub|unl|priv)/">', page))
    related = who in ("rita@example.com", OWNER)  # an entry, ownership
    assert shown == ({"pub", "unl", "priv"} if related else {"pub"})


def test_unlisted_list_is_reachable_by_address_but_not_on_the_index(client, world):
    assert client.get("/unl/").status_code == 200
    assert "/unl/" not in client.get("/").get_data(as_text=True)
    assert client.get("/unl/hello-unl@example.com/").status_code == 200


@pytest.mark.parametrize("who", [None, "rita@example.com", "sol@example.com"])
def test_all_shows_only_lists_the_visitor_may_browse(client, settings, world, who):
    if who is not None:
        sign_in_as(client, settings, who)
    allowed = BROWSE[who]
    listing = client.get("/all/").get_data(as_text=True)
    atom = client.get("/all/new.atom").get_data(as_text=True)
    search = client.get("/all/?q=greetings").get_data(as_text=True)
    for name in ("pub", "unl", "priv"):
        for page in (listing, atom, search):
            assert (f"Greetings from {name}" in page) == (name in allowed), (who, name)
        msg = client.get(f"/all/hello-{name}@example.com/")
        raw = client.get(f"/all/hello-{name}@example.com/raw")
        assert msg.status_code == raw.status_code == (200 if name in allowed else 404)


def test_visible_lists_agrees_with_may_for_every_actor(session, world):
    actors = [ANONYMOUS, Actor(addresses=frozenset({"sol@example.com"}))]
    actors += [actor_for_user(session, u) for u in session.query(User).all()]
    for actor in actors:
        expected = {m.id for m in world.values() if may(session, m, actor, "browse")}
        visible = visible_lists(session, actor)
        assert visible.browsable == expected == browsable_list_ids(session, actor)
        assert visible.every == (len(expected) == len(world))
        assert visible.sql_filter() == (None if visible.every else sorted(expected))


def test_entries_for_a_user_and_for_their_address_add_up(session, world):
    priv = world["priv"]
    stan = session.query(User).filter_by(username="stan").one()
    grant_list_access(session, priv, "~stan", "post")
    grant_list_access(session, priv, "stan@example.com", "browse")
    session.commit()
    actor = actor_for_user(session, stan)
    assert may(session, priv, actor, "browse") and may(session, priv, actor, "post")
    assert priv.id in browsable_list_ids(session, actor)


# -- the members page and the subscribe form ----------------------------------------------


def test_members_page_of_a_refused_list_is_the_missing_list_404(client, settings, world):
    sign_in_as(client, settings, "stan@example.com")
    response = client.get("/priv/members")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == not_found_body(client, "/priv/members", "priv")
    assert client.get("/pub/members").status_code == 403  # a list they see, not theirs
    sign_in_as(client, settings, "max@example.com")
    assert client.get("/priv/members").status_code == 200


def test_subscribe_form_of_a_refused_list_is_404(client, settings, world):
    token = sign_in_as(client, settings, "stan@example.com")
    data = {"csrf_token": token, "address": "stan@example.com"}
    assert client.post("/priv/subscribe", data=data).status_code == 404
    assert client.post("/no-such-list/subscribe", data=data).status_code == 404


# -- the settings page --------------------------------------------------------------------


def test_settings_page_is_for_managers_only(client, settings, world):
    for who in (None, "stan@example.com", "rita@example.com", "mia@example.com"):
        if who is not None:
            sign_in_as(client, settings, who)
        # A list they see but may not manage is 403, as a tracker's settings are; one
        # they may not see is the missing list's 404.
        assert client.get("/pub/settings").status_code == 403, who
        sees_priv = who in ("rita@example.com", "mia@example.com")
        assert client.get("/priv/settings").status_code == (403 if sees_priv else 404), who
        if not sees_priv:
            body = client.get("/priv/settings").get_data(as_text=True)
            assert body == not_found_body(client, "/priv/settings", "priv")
    for who in (OWNER, "max@example.com", "ada@example.com"):
        sign_in_as(client, settings, who)
        page = client.get("/priv/settings")
        assert page.status_code == 200, who
        assert page.get_data(as_text=True).count('name="csrf_token"') >= 2
        assert 'href="/priv/settings"' in client.get("/priv/").get_data(as_text=True)


def test_settings_form_changes_the_list_with_a_valid_csrf_token_only(
    client, settings, session, world
):
    token = sign_in_as(client, settings, "max@example.com")
    form = {
        "action": "save",
        "visibility": "unlisted",
        "default_rights": ["browse", "reply"],
        "moderation": "unsubscribed",
        "moderation_days": "7",
        "group": str(world["priv"].owner_group_id),
    }
    assert client.post("/priv/settings", data=form).status_code == 400  # no token
    assert client.post("/priv/settings", data={**form, "csrf_token": "x"}).status_code == 400
    done = client.post("/priv/settings", data={**form, "csrf_token": token})
    assert done.status_code == 303 and done.location.endswith("/priv/settings")
    session.expire_all()
    priv = world["priv"]
    assert (priv.visibility, priv.default_rights) == ("unlisted", "browse,reply")
    assert (priv.moderation, priv.moderation_days) == ("unsubscribed", 7)
    sign_out(client)
    assert client.get("/priv/").status_code == 200  # unlisted now: reachable


def test_settings_form_refuses_bad_values_and_foreign_groups(client, settings, session, world):
    other = Group(name="other")
    session.add(other)
    session.commit()
    token = sign_in_as(client, settings, "max@example.com")
    base = {"action": "save", "csrf_token": token, "visibility": "private"}
    cases = [
        ({"visibility": "secret"}, "unknown visibility"),
        ({"default_rights": ["browse", "fly"]}, "unknown right"),
        ({"moderation": "some"}, "unknown moderation"),
        ({"moderation_days": "0"}, "moderation days"),
        ({"moderation_days": "soon"}, "moderation days"),
        ({"group": str(other.id)}, "choose a group you own or maintain"),
    ]
    for change, message in cases:
        response = client.post("/priv/settings", data={**base, **change})
        assert response.status_code == 400, change
        assert message in response.get_data(as_text=True).lower(), change
    session.expire_all()
    assert world["priv"].visibility == "private" and world["priv"].moderation == "none"
    assert "~other" not in client.get("/priv/settings").get_data(as_text=True)
    sign_in_as(client, settings, "ada@example.com")  # an admin may choose any group
    assert "~other" in client.get("/priv/settings").get_data(as_text=True)


def test_settings_form_grants_and_revokes_access(client, settings, session, world):
    token = sign_in_as(client, settings, OWNER)
    grant = {"action": "grant", "csrf_token": token, "who": "~stan", "rights": ["browse"]}
    assert client.post("/priv/settings", data={**grant, "csrf_token": ""}).status_code == 400
    assert client.post("/priv/settings", data=grant).status_code == 303
    page = client.get("/priv/settings").get_data(as_text=True)
    assert "~stan" in page and "~rita" in page and "sol@example.com" in page
    sign_in_as(client, settings, "stan@example.com")
    assert client.get("/priv/").status_code == 200
    token = sign_in_as(client, settings, OWNER)
    revoke = {"action": "revoke", "csrf_token": token, "who": "~stan"}
    assert client.post("/priv/settings", data=revoke).status_code == 303
    sign_in_as(client, settings, "stan@example.com")
    assert client.get("/priv/").status_code == 404
    token = sign_in_as(client, settings, OWNER)
    for who, message in (("~acme", "is a group"), ("~ghost", "no user named"), ("x", "neither")):
        response = client.post("/priv/settings", data={**grant, "csrf_token": token, "who": who})
        assert response.status_code == 400 and message in response.get_data(as_text=True).lower()


def test_settings_posts_from_non_managers_are_refused_even_with_a_token(client, settings, world):
    token = sign_in_as(client, settings, "rita@example.com")
    data = {"action": "save", "csrf_token": token, "visibility": "public"}
    assert client.post("/priv/settings", data=data).status_code == 403  # rita sees priv
    token = sign_in_as(client, settings, "stan@example.com")
    data["csrf_token"] = token
    assert client.post("/priv/settings", data=data).status_code == 404  # stan does not


# -- confirmation and unsubscribe links of a private list ------------------------------------


def test_unsubscribe_link_of_a_private_list_works_without_signing_in(
    client, settings, session, world
):
    from lists.membership import find_subscription, one_click_url, subscribe

    subscribe(session, world["priv"].id, "stan@example.com")
    session.commit()
    path = one_click_url(settings, "priv", "stan@example.com").removeprefix(settings.base_url)
    assert client.get(path).status_code == 200
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.expire_all()
    assert find_subscription(session, world["priv"].id, "stan@example.com") is None


def test_confirm_link_of_a_private_list_needs_a_live_token(client, settings, session, world):
    from lists.access import list_scope
    from mail.confirmation import request_change
    from mail.models import RequestKind

    pending = request_change(
        session, list_scope(world["priv"].id), RequestKind.subscribe, "stan@example.com"
    )
    session.commit()
    assert client.get(f"/priv/confirm/{pending.token}").status_code == 200
    made_up = client.get("/priv/confirm/0123456789abcdef0123456789abcdef")
    assert made_up.status_code == 404
    assert made_up.get_data(as_text=True) == not_found_body(
        client, "/priv/confirm/0123456789abcdef0123456789abcdef", "priv"
    )


# -- patchset status ----------------------------------------------------------------------


@pytest.fixture
def patchset(seed, session, world) -> Patchset:
    seed.post(
        world["pub"],
        "quiet@example.net",
        "[PATCH] hello: quieter",
        body=PATCH,
        sender="Sam Submitter <sam@example.net>",
    )
    make_user(session, "sam", "sam@example.net")
    return session.query(Patchset).filter_by(list_id=world["pub"].id).one()


@pytest.mark.parametrize(
    "who, allowed",
    [
        ("stan@example.com", set()),
        ("rita@example.com", set()),
        ("sam@example.net", {"needs_revision", "superseded", "rejected"}),
        (OWNER, {s.value for s in PatchsetStatus}),
        ("max@example.com", {s.value for s in PatchsetStatus}),  # group maintainer
        ("ada@example.com", {s.value for s in PatchsetStatus}),  # admin
        ("mod@example.com", {s.value for s in PatchsetStatus}),  # entry with moderate
    ],
)
def test_who_may_set_which_status_on_the_web(
    client, settings, session, world, patchset, who, allowed
):
    grant_list_access(session, world["pub"], "mod@example.com", "browse,moderate")
    session.commit()
    token = sign_in_as(client, settings, who)
    page = client.get(f"/pub/patches/{patchset.id}/").get_data(as_text=True)
    offered = set(re.findall(r'<option value="([a-z_]+)"', page))
    assert offered == allowed
    for status in PatchsetStatus:
        response = client.post(
            f"/pub/patches/{patchset.id}/status",
            data={"status": status.value, "csrf_token": token},
        )
        assert response.status_code == (303 if status.value in allowed else 403), status


def test_status_history_names_the_signed_in_user_by_their_address(
    client, settings, session, world, patchset
):
    token = sign_in_as(client, settings, "max@example.com")
    client.post(
        f"/pub/patches/{patchset.id}/status", data={"status": "approved", "csrf_token": token}
    )
    page = client.get(f"/pub/patches/{patchset.id}/").get_data(as_text=True)
    assert "set by <bdi>max@example.com</bdi>" in page


def test_message_in_list_answers_per_list(session, seed, world):
    from archive.queries import list_has_any_message, message_in_list

    seed.post([world["pub"], world["priv"]], "both@example.com", "On two lists")
    pub, priv, unl = world["pub"].id, world["priv"].id, world["unl"].id
    assert message_in_list(session, pub, "both@example.com")
    assert message_in_list(session, priv, "both@example.com")
    assert not message_in_list(session, unl, "both@example.com")
    assert message_in_list(session, priv, "hello-priv@example.com")
    assert not message_in_list(session, pub, "hello-priv@example.com")
    assert list_has_any_message(session, pub, ["nope@x", "hello-pub@example.com"])
    assert not list_has_any_message(session, pub, ["nope@x", "hello-priv@example.com"])
    assert not list_has_any_message(session, pub, [])
