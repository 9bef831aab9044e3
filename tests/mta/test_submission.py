"""Authenticated submission over real SMTP: AUTH with a username and an API token, posts
to the lists here, relayed copies to anyone else through the outbox, and the From and
envelope sender held to the account's confirmed addresses."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest

from accounts.ratelimit import LOGIN_PER_ACCOUNT
from accounts.tokens import create_token
from accounts.users import create_user
from core.settings import SettingsError
from mail.models import OutboxMessage
from mailyard.wiring import ADDRESS_KINDS
from mta.server import start_intake
from mta.submission import is_loopback
from tests.messages import DEV, make_message, msgid_of, stored

ADA = "ada@example.com"
FOREIGN = "carol@elsewhere.example"


@pytest.fixture
def token(session) -> str:
    user = create_user(session, "ada", ADA)
    _, plaintext = create_token(session, user, "git", timedelta(days=30))
    session.commit()
    return plaintext


@pytest.fixture
def submission(start_servers, relay_settings):
    """Intake with its submission port, sending relayed mail to the sink."""
    return start_servers(relay_url=relay_settings.relay_url)


def client(servers) -> smtplib.SMTP:
    return smtplib.SMTP(*servers.submission_address, timeout=10)


def login_plain(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN alone (smtplib's `login` tries every mechanism offered, and each
    failure counts against the limit), raising SMTPAuthenticationError on a refusal."""
    smtp.ehlo()
    smtp.user, smtp.password = user, password
    code, reply = smtp.auth("PLAIN", smtp.auth_plain)
    assert code == 235, reply


def test_a_signed_in_user_posts_to_a_list_and_the_cc_elsewhere_is_relayed(
    submission, token, session, sink
):
    raw = make_message(from_=f"Ada <{ADA}>", cc=FOREIGN)
    with client(submission) as smtp:
        smtp.login("ada", token)
        assert smtp.sendmail(ADA, [DEV, FOREIGN], raw) == {}
    assert len(stored(session, msgid_of(raw))) == 1  # the list has the post
    [copy] = [r for r in sink.received if FOREIGN in r.rcpt_tos]
    assert copy.mail_from == ADA and copy.rcpt_tos == [FOREIGN]
    # The message as sent, under the trace line a relay adds (RFC 5321 4.4).
    trace, _, rest = copy.content.partition(b"\r\n\t")
    assert trace.startswith(b"Received: from ") and b"[127.0.0.1]" in trace
    assert rest.split(b"\r\n", 2)[2].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert b"with ESMTPA;" in copy.content


def test_auth_login_works_as_well_as_plain(submission, token, sink):
    with client(submission) as smtp:
        smtp.ehlo()
        assert "LOGIN" in smtp.esmtp_features["auth"] and "PLAIN" in smtp.esmtp_features["auth"]
        smtp.user, smtp.password = "ada", token
        code, _ = smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        assert code == 235
        assert smtp.sendmail(ADA, [FOREIGN], make_message(from_=ADA, to=FOREIGN)) == {}
    assert [r.rcpt_tos for r in sink.received] == [[FOREIGN]]


def test_nothing_is_taken_before_auth(submission):
    with client(submission) as smtp:
        smtp.ehlo()
        code, reply = smtp.mail(ADA)
    assert code == 530, reply


def test_a_wrong_token_is_refused_and_so_is_anothers(submission, token, session):
    other = create_user(session, "bob", "bob@example.com")
    _, bobs = create_token(session, other, "git", timedelta(days=30))
    session.commit()
    for login, password, why in (
        ("ada", "my_nothing", b"unknown API token"),
        ("ada", bobs, b"do not belong together"),
        ("ada", "hunter2", b"not a Mailyard API token"),
    ):
        with client(submission) as smtp, pytest.raises(smtplib.SMTPAuthenticationError) as e:
            login_plain(smtp, login, password)
        assert e.value.smtp_code == 535 and why in e.value.smtp_error


def test_failed_attempts_are_rate_limited_as_signing_in_is(submission, token):
    for _ in range(LOGIN_PER_ACCOUNT.count):
        with client(submission) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
            login_plain(smtp, "ada", "my_wrong")
    with client(submission) as smtp, pytest.raises(smtplib.SMTPAuthenticationError) as e:
        login_plain(smtp, "ada", token)  # even the right token, until the window passes
    assert e.value.smtp_code == 454 and b"Too many attempts" in e.value.smtp_error


def test_an_envelope_sender_not_of_the_account_is_refused_naming_the_allowed_ones(
    submission, token
):
    with client(submission) as smtp:
        smtp.login("ada", token)
        code, reply = smtp.mail("mallory@example.com")
    assert code == 550
    assert b"5.7.1" in reply and b"you may send as: ada@example.com" in reply


def test_a_from_not_of_the_account_is_refused_and_nothing_is_sent(submission, token, session, sink):
    raw = make_message(from_="Mallory <mallory@example.com>", cc=FOREIGN)
    with client(submission) as smtp:
        smtp.login("ada", token)
        with pytest.raises(smtplib.SMTPDataError) as e:
            smtp.sendmail(ADA, [DEV, FOREIGN], raw)
    assert e.value.smtp_code == 550
    assert b"From <mallory@example.com>" in e.value.smtp_error
    assert b"you may send as: ada@example.com" in e.value.smtp_error
    assert stored(session, msgid_of(raw)) == [] and sink.received == []


def test_a_refused_list_post_is_not_relayed_either(submission, token, session):
    raw = make_message(from_=ADA, to=FOREIGN)  # the list is not in To or Cc
    with client(submission) as smtp:
        smtp.login("ada", token)
        with pytest.raises(smtplib.SMTPDataError) as e:
            smtp.sendmail(ADA, [DEV, FOREIGN], raw)
    assert e.value.smtp_code == 550
    session.expire_all()
    assert session.query(OutboxMessage).filter_by(purpose="submission").count() == 0


def test_the_intake_port_takes_the_list_and_points_others_to_submission(intake, session):
    raw = make_message(cc=FOREIGN)
    with smtplib.SMTP(*intake.smtp_address, timeout=10) as smtp:
        refused = smtp.sendmail("alice@example.com", [DEV, FOREIGN], raw)
    code, reply = refused[FOREIGN]
    assert code == 550 and b"5.7.1" in reply
    assert b"not relayed" in reply and b"submission port 127.0.0.1:0" in reply
    assert len(stored(session, msgid_of(raw))) == 1


def test_loopback_and_unix_clients_count_as_local_and_others_do_not():
    assert is_loopback(("127.0.0.1", 1)) and is_loopback(("::1", 1, 0, 0))
    assert is_loopback("")  # a Unix socket has no host
    assert not is_loopback(("192.0.2.1", 1))


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=lists.example.org", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("openssl could not make a certificate")
    return str(cert), str(key)


def test_off_loopback_auth_needs_starttls_and_works_over_it(start_servers, token, certificate):
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    cert, key = certificate
    plain = start_servers(submission_listen=f"{outside}:0")
    with smtplib.SMTP(*plain.submission_address, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth") and not smtp.has_extn("starttls")
        code, reply = smtp.docmd("AUTH", "PLAIN")
        assert code == 538, reply  # encryption required
    with_tls = start_servers(submission_listen=f"{outside}:0", tls_cert_file=cert, tls_key_file=key)
    with smtplib.SMTP(*with_tls.submission_address, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        smtp.starttls(context=ssl._create_unverified_context())
        smtp.ehlo()
        assert smtp.has_extn("auth")
        assert smtp.login("ada", token)[0] == 235


def test_a_certificate_without_its_key_is_a_settings_error(settings, certificate):
    with pytest.raises(SettingsError, match="MAILYARD_TLS_KEY_FILE"):
        start_intake(replace(settings, tls_cert_file=certificate[0]), ADDRESS_KINDS)


def test_signing_in_proves_the_from_so_the_owner_skips_moderation_and_reaches_a_private_list(
    start_servers, relay_settings, session, lists
):
    """The same posts sent unauthenticated are held and refused (`tests/lists/
    test_forged_owner.py`); signed in, the owner's address acts as the owner's account."""
    from tests.lists.test_forged_owner import OWNER, held
    from tests.lists.test_post_rights import configure

    user = create_user(session, "owner", OWNER)
    _, owner_token = create_token(session, user, "git", timedelta(days=30))
    session.commit()
    configure(session, lists["dev"], moderation="all")
    configure(session, lists["announce"], visibility="private")
    servers = start_servers(relay_url=relay_settings.relay_url)
    moderated = make_message(from_=f"Owner <{OWNER}>", subject="Moderated")
    private = make_message(from_=f"Owner <{OWNER}>", to=f"announce@{DEV.split('@')[1]}")
    with client(servers) as smtp:
        smtp.login("owner", owner_token)
        assert smtp.sendmail(OWNER, [DEV], moderated) == {}
        assert smtp.sendmail(OWNER, [f"announce@{DEV.split('@')[1]}"], private) == {}
    assert stored(session, msgid_of(moderated)) and not held(session, moderated)
    assert stored(session, msgid_of(private))

    # The positive control: the intake port, where nothing proves the From, holds it.
    again = make_message(from_=f"Owner <{OWNER}>", subject="Unproven")
    with smtplib.SMTP(*servers.smtp_address, timeout=10) as smtp:
        smtp.sendmail(OWNER, [DEV], again)
    assert held(session, again) and not stored(session, msgid_of(again))


def test_a_signed_in_owners_report_to_a_tracker_applies_its_commands(
    start_servers, relay_settings, session, lists
):
    """Ticket commands need an authenticated From (`trackers.mail`); signing in is that
    proof, as a DKIM signature is. The same report over the intake port opens the ticket
    but its command does nothing (the positive control)."""
    from trackers.models import Ticket
    from trackers.tickets import create_tracker

    owner = "owner@example.com"
    user = create_user(session, "owner", owner)
    _, owner_token = create_token(session, user, "git", timedelta(days=30))
    create_tracker(session, "bugs", owner)
    session.commit()
    servers = start_servers(relay_url=relay_settings.relay_url)
    bugs = f"bugs@{DEV.split('@')[1]}"

    def report(subject: str) -> bytes:
        return make_message(
            from_=f"Owner <{owner}>",
            to=bugs,
            subject=subject,
            body="!label crash\r\n\r\nIt broke.\r\n",
        )

    def labels(subject: str) -> list[str]:
        session.expire_all()
        return session.query(Ticket).filter_by(title=subject).one().labels

    with client(servers) as smtp:
        smtp.login("owner", owner_token)
        assert smtp.sendmail(owner, [bugs], report("Signed in")) == {}
    assert labels("Signed in") == ["crash"]

    with smtplib.SMTP(*servers.smtp_address, timeout=10) as smtp:
        smtp.sendmail(owner, [bugs], report("Unproven"))
    assert labels("Unproven") == []
