"""Nothing of a private list reaches anyone who may not browse it, through any page.

A private list is seeded with distinctive subjects, bodies and Message-IDs (a thread, a
patch series, a Message-ID with a '/', and a thread cross-posted to a public list), and
a private repository of the same name with one commit, linked to a project. Then
every GET rule of the application's URL map is requested, its arguments filled from the
seed (the private list's name, its Message-IDs in every view, its patchset ids, ticket
numbers...), together with searches, search mboxes, Atom feeds and the `/all/` scope,
anonymously and signed in as a user with no relation to the list. Two checks:

1. no subject, body line or Message-ID of the private list (nor its name or
   description, unless the request itself named them) appears in any body or header;
2. a request naming something private answers exactly as the same request naming
   something that never existed: same status, same headers that matter, same body.

A rule the test does not know how to fill fails it, so a new route is covered as soon as
it is added. The positive control runs the same requests as a member (an access entry
with browse) and finds the content and the differences: the checks would catch a leak.
There is no JSON API yet; when there is, its routes fall under the same enumeration.
"""

from __future__ import annotations

import gzip
import itertools
import re
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

import pytest

from accounts.models import GroupRole, Project, ProjectLink
from archive.models import MailingList
from archive.urls import mid_escape
from lists.access import list_scope
from lists.manage import change_list_settings, grant_list_access
from lists.membership import one_click_url, subscribe
from mail.confirmation import request_change
from mail.models import RequestKind
from patchsets.models import Patchset
from repos import storage
from repos.access import grant_access
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.repos.helpers import git, work_tree
from tests.web.test_list_access import make_group, sign_in_as, sign_out
from trackers.tickets import Origin, create_tracker, open_ticket

PRIVATE = "hush-room"
GHOST = "ghost-roomx"  # a list that never existed, standing in for the private one
DESCRIPTION = "Clandestine ferret society"
PATCH = """{what}

Signed-off-by: Ada Lovelace <ada@example.com>
---
diff --git a/lens.txt b/lens.txt
index 3b18e51..e965047 100644
--- a/lens.txt
+++ b/lens.txt
@@ -1 +1 @@
-{old}
+{new}
"""


@dataclass(frozen=True)
class Secret:
    """One message of the private list, and how a ghost of it looks."""

    msgid: str
    subject: str
    body_line: str
    ghost: str  # a Message-ID no list has, escaped alike


SECRETS = [
    Secret(
        "zq-root-1@hush.example",
        "Zanzibar quokka migration plan",
        "The xylophonist vault code is 7741.",
        "gq-root-1@ghost.example",
    ),
    Secret(
        "zq-reply-2@hush.example",
        "Re: Zanzibar quokka migration plan",
        "Quartermaster pelican agrees wholeheartedly.",
        "gq-reply-2@ghost.example",
    ),
    Secret(
        "zq-cover-3@hush.example",
        "[PATCH 0/2] Marzipan lighthouse refactor",
        "This series refits the marzipan lighthouse.",
        "gq-cover-3@ghost.example",
    ),
    Secret(
        "zq-p1-4@hush.example",
        "[PATCH 1/2] marzipan: polish the lighthouse lens",
        "Polish the lens with xylolith paste.",
        "gq-p1-4@ghost.example",
    ),
    Secret(
        "zq-p2-5@hush.example",
        "[PATCH 2/2] marzipan: oil the lighthouse gears",
        "Oil the gears with narwhal grease.",
        "gq-p2-5@ghost.example",
    ),
    Secret(
        "zq/slash-6@hush.example",
        "Ocelot treasury minutes",
        "The ocelot treasury holds nine doubloons.",
        "gq/slash-6@ghost.example",
    ),
    Secret(
        "zq-cross-7@hush.example",
        "Re: Shared roadmap (walrus budget)",
        "The walrus budget stays between us.",
        "gq-cross-7@ghost.example",
    ),
]
PATCHSET_NAME = "Marzipan lighthouse refactor"
# The subject of the one commit of a private repository ~acme/hush-room, linked to the
# project: the owner page, the project page and the repository's pages must not show it.
REPO_SECRET = "Kinkajou cipher wheel"
VIEWS = ("", "/", "/raw", "/T/", "/t/", "/T", "/t.mbox.gz", "/1-a.txt", "/2-a.txt")


# -- the seed -----------------------------------------------------------------------------


@dataclass
class Seeded:
    patchset_ids: list[int]
    unsubscribe_token: str
    confirm_token: str
    repo_sha: str  # the private repository's one commit


@pytest.fixture
def seeded(seed, session, settings) -> Seeded:
    pub = seed.make_list("pub", "A public list")
    hush = seed.make_list(PRIVATE, DESCRIPTION)
    make_user(session, "outsider", "outsider@example.com")
    make_user(session, "member", "member@example.com")
    make_user(session, "boss", "boss@example.com")
    acme = make_group(session, "acme", boss=GroupRole.owner)
    change_list_settings(session, hush, visibility="private", owner_group=acme)
    change_list_settings(session, pub, owner_group=acme)
    grant_list_access(session, hush, "~member", "browse")
    project = Project(owner_group_id=acme.id, owner_name="acme", name="lighthouse")
    session.add(project)
    session.flush()
    session.add_all(
        [
            ProjectLink(project_id=project.id, scope=f"list:{hush.id}"),
            ProjectLink(project_id=project.id, scope=f"list:{pub.id}"),
        ]
    )
    repository = create_repository(
        session, settings, acme, PRIVATE, description=DESCRIPTION, visibility="private"
    )
    grant_access(session, repository, "member", "read")
    session.add(ProjectLink(project_id=project.id, scope=f"repo:{repository.id}"))
    session.commit()
    tree = work_tree(settings.data_dir.parent / "repo-work", commits=0)
    (tree / "wheel.txt").write_text("cipher\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", REPO_SECRET)
    git(tree, "push", "-q", str(storage.path_of(settings, repository)), "main")
    repo_sha = git(tree, "rev-parse", "HEAD").stdout.strip()

    root, reply, cover, p1, p2, slash, cross = SECRETS
    to = f"{PRIVATE}@lists.example.org"
    seed.post(hush, root.msgid, root.subject, body=root.body_line + "\n", to=to)
    seed.post(hush, reply.msgid, reply.subject, (root.msgid,), body=reply.body_line + "\n")
    seed.post(hush, cover.msgid, cover.subject, body=cover.body_line + "\n", to=to)
    for secret, (old, new) in ((p1, ("dull", "shiny")), (p2, ("creak", "hum"))):
        body = PATCH.format(what=secret.body_line, old=old, new=new)
        seed.post(hush, secret.msgid, secret.subject, (cover.msgid,), body=body, to=to)
    seed.post(hush, slash.msgid, slash.subject, body=slash.body_line + "\n", to=to)
    # A thread on both lists: its root is public, a reply went to the private list only.
    seed.post([pub, hush], "shared-root@pub.example", "Shared roadmap", body="Plans.\n")
    seed.post(hush, cross.msgid, cross.subject, ("shared-root@pub.example",), body=cross.body_line)
    seed.post(pub, "pub-reply@pub.example", "Re: Shared roadmap", ("shared-root@pub.example",))

    tracker = create_tracker(session, "bugs", "owner@example.com", "public bugs")
    open_ticket(session, tracker, "A public bug", "It is broken.", Origin(address="x@example.com"))
    subscribe(session, hush.id, "outsider@example.com")
    pending = request_change(session, list_scope(hush.id), RequestKind.subscribe, "x@example.org")
    session.commit()
    ids = [p.id for p in session.query(Patchset).filter_by(list_id=hush.id).order_by(Patchset.id)]
    assert ids, "the private patch series made no patchset"
    token = one_click_url(settings, PRIVATE, "outsider@example.com").rsplit("/", 1)[1]
    return Seeded(ids, token, pending.token, repo_sha)


# -- the requests -------------------------------------------------------------------------

# Placeholders stand for private values in a request; its control swaps them for ghosts.
_PLACEHOLDER = re.compile(r"⟦(\w+)⟧")


def msgid_forms(msgid: str) -> set[str]:
    """A Message-ID as a page or URL may show it."""
    return {msgid, escape(msgid), mid_escape(msgid), quote(msgid, safe="")}


def placeholders(seeded: Seeded) -> dict[str, tuple[str, str]]:
    """Placeholder -> (private value, ghost value), as they go into a URL."""
    values = {"L": (PRIVATE, GHOST), "R": (PRIVATE, GHOST)}
    values["S"] = (seeded.repo_sha, GHOST_SHA)
    for i, secret in enumerate(SECRETS):
        values[f"M{i}"] = (mid_escape(secret.msgid), mid_escape(secret.ghost))
        values[f"Q{i}"] = (quote(secret.msgid, safe=""), quote(secret.ghost, safe=""))
    for i, pid in enumerate(seeded.patchset_ids):
        values[f"P{i}"] = (str(pid), str(987650 + i))
    return values


def ghost_swaps(seeded: Seeded) -> list[tuple[str, str]]:
    """(ghost, real) in every form a control's answer may show a ghost, longest first."""
    swaps = {(GHOST, PRIVATE), (GHOST_SHA, seeded.repo_sha)}
    for secret in SECRETS:
        for real, ghost in zip(
            (secret.msgid, escape(secret.msgid), mid_escape(secret.msgid)),
            (secret.ghost, escape(secret.ghost), mid_escape(secret.ghost)),
            strict=True,
        ):
            swaps.add((ghost, real))
        swaps.add((quote(secret.ghost, safe=""), quote(secret.msgid, safe="")))
    for i, pid in enumerate(seeded.patchset_ids):
        swaps.add((str(987650 + i), str(pid)))
    return sorted(swaps, key=lambda pair: -len(pair[0]))


def named_tokens(template: str) -> set[str]:
    """The private values a request names itself (a page may echo those)."""
    named: set[str] = set()
    for key in _PLACEHOLDER.findall(template):
        if key in ("L", "R"):  # the list, or the repository of the same name
            named.add(PRIVATE)
        elif key[0] in "MQ":
            named |= msgid_forms(SECRETS[int(key[1:])].msgid)
    return named


def argument_values(seeded: Seeded) -> dict[str, list[str]]:
    """What each URL argument is filled with. A rule with an argument not named here
    fails the test: teach it how to fill the new argument."""
    messages = [f"⟦M{i}⟧{view}" for i in range(len(SECRETS)) for view in VIEWS]
    patchsets = [f"⟦P{i}⟧" for i in range(len(seeded.patchset_ids))]
    return {
        "name": ["⟦L⟧", "pub", "all", "bugs"],
        "_rest": messages + ["shared-root@pub.example/", "shared-root@pub.example/T/"],
        "patchset_id": patchsets,
        "position": ["1", "2"],
        "number": ["1", "2"],
        # Credentials made for the private list go in as they are (see `leaks`); a
        # made-up one checks the refusals.
        "token": [seeded.unsubscribe_token, seeded.confirm_token, MADE_UP_TOKEN],
        "username": ["outsider", "member", "boss"],
        "owner": ["acme", "outsider", "member"],
        "project": ["lighthouse", "⟦R⟧"],  # a project, and a repository's summary
        "filename": ["style.css"],
        "held_id": ["1"],
        "attempt_id": ["1"],  # an apply attempt's report
        "sent_id": ["1"],  # a series sent from a repository
        "event_id": ["1", "2", "3"],  # a ticket event's mail, for its attachments
        "part": ["1-a.txt", "2-a.txt"],
        "repo": ["⟦R⟧"],
        "ref": ["main", "feature/x"],
        "path": ["wheel.txt", "README.md"],
        "sha": ["⟦S⟧", "0123456789abcdef"],
    }


MADE_UP_TOKEN = "0123456789abcdef0123456789abcdef"
GHOST_SHA = "1234567890abcdef1234567890abcdef12345678"  # no commit has it
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")
SEARCHES = [
    "zanzibar",
    "s:zanzibar",
    "b:xylophonist",
    "marzipan%20OR%20walrus%20OR%20ocelot",
    "m:⟦Q0⟧",
    "m:⟦Q5⟧",
    "d:20200101..",
]


def every_get_request(app, seeded: Seeded) -> list[tuple[str, str]]:
    """(method, url template) for every GET rule, each argument filled every known way,
    plus searches, search mboxes and listings in the private list, a public one and
    /all/."""
    values = argument_values(seeded)
    requests: list[tuple[str, str]] = []
    unknown = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        names = _ARGUMENT.findall(rule.rule)
        missing = [n for n in names if n not in values]
        if missing:
            unknown.append(f"{rule.rule} ({', '.join(missing)})")
            continue
        for combo in itertools.product(*(values[n] for n in names)):
            filled = iter(combo)
            requests.append(("GET", _ARGUMENT.sub(lambda _m, f=filled: next(f), rule.rule)))
    if unknown:
        pytest.fail(
            "test_private_list_leak does not know how to fill these rules' arguments; "
            "add them to argument_values: " + "; ".join(unknown)
        )
    for name in ("⟦L⟧", "pub", "all"):
        for q in SEARCHES:
            requests.append(("GET", f"/{name}/?q={q}"))
            requests.append(("POST", f"/{name}/?q={q}&x=m"))
            requests.append(("POST", f"/{name}/?q={q}&x=m&t=1"))
        requests.append(("GET", f"/{name}/?t=20991231000000"))
    return requests


# -- the checks ---------------------------------------------------------------------------


def forbidden_tokens() -> list[str]:
    """What must never show: every subject, body line and Message-ID of the private list
    (as text, HTML-escaped and URL-escaped), its patchset's name, name and description."""
    tokens = {PATCHSET_NAME, DESCRIPTION, PRIVATE, REPO_SECRET}
    for secret in SECRETS:
        tokens |= {secret.subject, escape(secret.subject), secret.body_line}
        tokens |= msgid_forms(secret.msgid)
    return sorted(tokens)


def fill(template: str, values: dict[str, tuple[str, str]], which: int) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)][which], template)


def text_of(response) -> str:
    """The body as text, gunzipped first when it is a .gz download."""
    data = response.get_data()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def leaks(client, requests, seeded: Seeded) -> list[str]:
    """Every violation of the two checks (see the module docstring), as readable lines.
    A request carrying a credential made for the private list (an unsubscribe link, a
    pending confirmation) is held to the first check only: its holder may learn that
    the list exists."""
    values = placeholders(seeded)
    swaps = ghost_swaps(seeded)
    credentials = (seeded.unsubscribe_token, seeded.confirm_token)
    tokens = forbidden_tokens()
    found: list[str] = []
    for method, template in requests:
        url = fill(template, values, 0)
        response = client.open(url, method=method)
        body = text_of(response)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        echoed = named_tokens(template)
        for token in tokens:
            if token not in echoed and (token in body or token in headers):
                found.append(f"{method} {url} ({response.status_code}) shows {token!r}")
        if not _PLACEHOLDER.search(template) or any(c in url for c in credentials):
            continue
        control = client.open(fill(template, values, 1), method=method)
        back = text_of(control)
        location = control.headers.get("Location", "")
        for ghost, real in swaps:
            back = back.replace(ghost, real)
            location = location.replace(ghost, real)
        same = (
            response.status_code == control.status_code
            and body == back
            and response.headers.get("Location", "") == location
            and response.headers.get("Content-Type") == control.headers.get("Content-Type")
        )
        if not same:
            found.append(
                f"{method} {url} ({response.status_code}) differs from the same request"
                f" for something that does not exist ({control.status_code})"
            )
    return found


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "outsider@example.com"])
def test_nothing_of_a_private_list_reaches_who_may_not_browse_it(
    app, client, settings, seeded, who
):
    if who is not None:
        sign_in_as(client, settings, who)
    requests = every_get_request(app, seeded)
    assert len(requests) > 300
    problems = leaks(client, requests, seeded)
    assert problems == [], f"{len(problems)} leaks:\n" + "\n".join(problems[:40])


def test_the_public_side_of_a_cross_posted_thread_stays_visible(client, seeded):
    for path in ("/pub/shared-root@pub.example/", "/all/shared-root@pub.example/"):
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "Shared roadmap" in page
        assert "(pub)" in page or path.startswith("/pub/")  # /all/ names the list shown
        assert "Re: Shared roadmap" in client.get(path + "T/").get_data(as_text=True)
    assert "Shared roadmap" in client.get("/all/new.atom").get_data(as_text=True)
    assert "/pub/shared-root" in client.get("/all/?q=roadmap").get_data(as_text=True)


def test_a_member_sees_it_all_so_the_checks_would_catch_a_leak(app, client, settings, seeded):
    """The positive control: as a member, the same requests show every secret and
    differ from their ghosts, so the checks above are not vacuous."""
    sign_in_as(client, settings, "member@example.com")
    requests = every_get_request(app, seeded)
    problems = leaks(client, requests, seeded)
    for secret in SECRETS:
        assert any(repr(secret.subject) in p or repr(escape(secret.subject)) in p for p in problems)
        assert any(secret.msgid in p for p in problems)
    assert any(repr(PATCHSET_NAME) in p for p in problems)
    assert any(repr(REPO_SECRET) in p and "/~acme/lighthouse " in p for p in problems)
    for path in (
        f"/{PRIVATE}/",
        f"/{PRIVATE}/new.atom",
        f"/{PRIVATE}/{mid_escape(SECRETS[0].msgid)}/raw",
        f"/{PRIVATE}/{mid_escape(SECRETS[5].msgid)}/",
        f"/{PRIVATE}/patches/{seeded.patchset_ids[0]}/",
        f"/{PRIVATE}/patches/{seeded.patchset_ids[0]}/mbox",
        "/all/new.atom",
        "/all/?q=zanzibar",
        f"/all/{mid_escape(SECRETS[0].msgid)}/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        assert any(s.subject in text or escape(s.subject) in text for s in SECRETS), path
    page = client.get(f"/pub/{mid_escape(SECRETS[6].msgid)}/").get_data(as_text=True)
    assert f'href="/{PRIVATE}/' in page  # "archived in" names the list the member sees
    sign_out(client)
    assert client.get(f"/{PRIVATE}/").status_code == 404


CLOSING_PATCH = """Fix the {what}.

Closes: bugs#1
Signed-off-by: Ada Lovelace <ada@example.com>
---
diff --git a/gate.txt b/gate.txt
index 3b18e51..e965047 100644
--- a/gate.txt
+++ b/gate.txt
@@ -1 +1 @@
-{what} open
+{what} shut
"""


def test_a_private_patch_closing_a_public_ticket_does_not_show_on_it(client, seed, seeded):
    """A `Closes: TRACKER#N` trailer notes the patch on the ticket; one sent to a public
    list shows there (the control), one sent to a private list must not."""
    lists = {m.name: m for m in seed.session.query(MailingList)}
    for name, what in (("pub", "pelican"), (PRIVATE, "albatross")):
        subject = f"[PATCH] {what}: fix the gate"
        msgid = f"closes-{what}@example.net"
        seed.post(lists[name], msgid, subject, body=CLOSING_PATCH.format(what=what))
    response = client.get("/bugs/tickets/1/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "pelican: fix the gate" in page
    for token in ("albatross", PRIVATE):
        assert token not in page
