"""What a person does with Mailyard in a real browser: sign up, confirm by the mail that
arrives, sign in, add an OpenPGP key, make a group and a project, make a list private,
and approve a post held for moderation. Each page visited is saved as a screenshot."""

from __future__ import annotations

import re
import smtplib
import time
from email import message_from_bytes, policy

import pytest

from tests.accounts.helpers import make_pgp_keys

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

ALICE = "alice@example.org"
PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}


def mail_to(sink, address: str, timeout: float = 30.0):
    """The newest message the relay sink got for `address`, waiting for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in reversed(sink.received):
            if address in received.rcpt_tos:
                return message_from_bytes(received.content, policy=policy.default)
        time.sleep(0.2)
    raise AssertionError(f"no mail reached {address} in {timeout} s")


def link_in(message, pattern: str) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.search(pattern, text)
    assert found, text
    return found.group(0)


def test_sign_up_to_approving_a_held_post(site, sink, browser, shoot):
    site.cli("list", "create", "dev", "--owner", ALICE, "--description", "Development")
    site.cli("tracker", "create", "bugs", "--owner", ALICE, "--description", "Bugs in the thing")
    site.start()
    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()

    # Sign up, and confirm with the link mailed through the outbox to the sink.
    page.goto("/signup")
    shoot(page, "signup")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Email address").fill(ALICE)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    shoot(page, "signup-sent")
    confirmation = mail_to(sink, ALICE)
    page.goto(link_in(confirmation, r"https?://\S+/account/confirm/\S+"))
    page.get_by_role("button", name="Confirm").click()

    # Sign in.
    page.goto("/login")
    shoot(page, "login")
    page.get_by_label("Username or email address").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()  # content() is empty while the next page commits
    assert "~alice" in page.content()

    # Add an OpenPGP key; /~alice.pgp serves it.
    fingerprint, armored = make_pgp_keys(ALICE)[ALICE]
    page.goto("/account")
    page.locator("form[action$='/account/pgp-keys'] textarea").fill(armored)
    page.get_by_role("button", name="Add the OpenPGP key").click()
    page.wait_for_load_state()
    assert fingerprint in page.content().replace(" ", "")
    shoot(page, "account")
    status, headers, body = site.get("/~alice.pgp")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"BEGIN PGP PUBLIC KEY BLOCK" in body

    # A group, and a project of the group that brings the list in.
    page.goto("/account")
    page.get_by_role("link", name="group", exact=True).click()
    page.get_by_label("Name").fill("tools")
    page.get_by_label("Description").fill("The tools team")
    page.get_by_role("button", name="create the group").click()
    assert page.url.endswith("/~tools")
    shoot(page, "group")
    page.goto("/projects/new")
    page.get_by_label("Owner").select_option("tools")
    page.get_by_label("Name").fill("thing")
    page.get_by_label("Description").fill("The thing itself")
    page.get_by_role("button", name="create the project").click()
    page.goto("/~tools/thing/settings")
    page.get_by_label("README").fill("Thing does one thing.\n<script>alert(1)</script>\n")
    page.get_by_role("button", name="save").click()
    page.goto("/~tools/thing/settings")
    page.locator("#link").fill("list:dev")
    page.get_by_role("button", name="link").click()
    page.goto("/~tools/thing")
    assert "dev" in page.inner_text("main") and "Thing does one thing." in page.content()
    assert page.locator("script").count() == 0  # the README is text, never markup
    shoot(page, "project")

    # Make the list private and hold every post; a stranger no longer sees it.
    page.goto("/dev/settings")
    page.locator("input[name=visibility][value=private]").check()
    page.locator("select[name=moderation]").select_option("all")
    page.get_by_role("button", name="Save settings").click()
    page.locator("input[name=who]").fill("bob@example.net")
    page.locator("form:has(input[name=who][type=text]) input[name=rights][value=post]").check()
    page.get_by_role("button", name="Give access").click()
    page.wait_for_load_state()
    assert "bob@example.net" in page.content()
    shoot(page, "list-settings")
    stranger = browser.new_context(base_url=site.base_url).new_page()
    assert stranger.goto("/dev/").status == 404

    # Bob may post, but every post is held; approving it on the web archives it.
    dev = f"dev@{site.settings.domain}"
    post = (
        f"From: Bob <bob@example.net>\r\nTo: {dev}\r\n"
        "Subject: a question about the thing\r\nMessage-ID: <held-1@example.net>\r\n"
        "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n\r\nDoes it do two things?\r\n"
    )
    with smtplib.SMTP("127.0.0.1", site.smtp_port) as client:
        client.sendmail("bob@example.net", [dev], post.encode())
    page.goto("/dev/")
    page.get_by_role("link", name="moderation queue").click()
    page.wait_for_load_state()
    assert "a question about the thing" in page.content()
    shoot(page, "moderation")
    page.get_by_role("button", name="approve").click()
    site.wait_until(
        lambda: "a question about the thing" in page.goto("/dev/").text(),
        what="the approved post in the archive",
    )
    shoot(page, "list-after-approval")

    # A ticket opened with the web form, pre-filled from its URL.
    page.goto("/bugs/tickets/new?title=It%20does%20two%20things&description=Traceback%3A%20...")
    assert page.locator("#title").input_value() == "It does two things"
    page.get_by_role("button", name="open ticket").click()
    page.wait_for_load_state()
    assert "It does two things" in page.inner_text("main")
    shoot(page, "ticket")
    ticket = page.url

    # The main pages on a phone-sized screen, signed in as Alice.
    phone = browser.new_context(
        base_url=site.base_url, viewport=PHONE, storage_state=context.storage_state()
    ).new_page()
    pages = (
        ("/", "phone-index"),
        ("/dev/", "phone-list"),
        ("/dev/held-1@example.net/T/", "phone-thread"),
        ("/bugs/tickets/", "phone-tickets"),
        (ticket, "phone-ticket"),
        ("/~tools", "phone-group"),
        ("/~tools/thing", "phone-project"),
        ("/account", "phone-account"),
    )
    for path, name in pages:
        assert phone.goto(path).status == 200, path
        shoot(phone, name)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
    anonymous = browser.new_context(base_url=site.base_url, viewport=PHONE).new_page()
    anonymous.goto("/signup")
    shoot(anonymous, "phone-signup")
