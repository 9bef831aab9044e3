"""LMTP intake: one reply per accepted recipient at the end of DATA (RFC 2033)."""

from __future__ import annotations

import smtplib

from tests.messages import ANNOUNCE, DEV, html_only, list_ids_of, make_message, msgid_of, stored


def lmtp_client(address) -> smtplib.LMTP:
    if isinstance(address, str):
        return smtplib.LMTP(address, timeout=10)
    return smtplib.LMTP(*address, timeout=10)


def deliver(client: smtplib.LMTP, raw: bytes, recipients: list[str]) -> list[tuple[int, bytes]]:
    """MAIL, RCPT for each recipient, DATA; then the remaining per-recipient replies.

    smtplib reads one reply after DATA; LMTP sends one per recipient accepted at RCPT.
    """
    assert client.ehlo("postfix.example.org")[0] == 250
    assert client.mail("alice@example.com")[0] == 250
    accepted = [r for r in recipients if client.rcpt(r)[0] == 250]
    replies = [client.data(raw)]
    replies += [client.getreply() for _ in accepted[1:]]
    return replies


def test_lmtp_answers_each_recipient_for_itself(intake, session, lists):
    raw = html_only(to=DEV, cc=ANNOUNCE)  # dev refuses HTML, announce takes it
    with lmtp_client(intake.lmtp_address) as client:
        replies = deliver(client, raw, [DEV, "nosuchlist@lists.example.org", ANNOUNCE])
        assert client.noop()[0] == 250  # and nothing is left unread
    (dev_code, dev_reply), (announce_code, _) = replies
    assert dev_code == 550
    assert dev_reply.startswith(b"5.7.1") and b"useplaintext.email" in dev_reply
    assert announce_code == 250
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["announce"]}
    assert message.envelope_to == [ANNOUNCE]


def test_lmtp_cross_post_gets_250_per_list_and_is_stored_once(intake, session, lists):
    raw = make_message(cc=ANNOUNCE)
    with lmtp_client(intake.lmtp_address) as client:
        replies = deliver(client, raw, [DEV, ANNOUNCE])
    assert [code for code, _ in replies] == [250, 250]
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["dev"], lists["announce"]}


def test_lmtp_size_refusal_is_repeated_per_recipient(start_servers, session):
    servers = start_servers(max_message_size=2048)
    raw = make_message(cc=ANNOUNCE, body=("z" * 70 + "\r\n") * 60)
    with lmtp_client(servers.lmtp_address) as client:
        replies = deliver(client, raw, [DEV, ANNOUNCE])
        assert client.noop()[0] == 250
    assert [code for code, _ in replies] == [552, 552]
    assert all(reply.startswith(b"5.3.4") for _, reply in replies)
    assert stored(session, msgid_of(raw)) == []


def test_lmtp_on_a_unix_socket_as_postfix_uses_it(start_servers, session, tmp_path, lists):
    path = str(tmp_path / "lmtp.sock")
    servers = start_servers(smtp_listen="", lmtp_listen=f"unix:{path}")
    assert servers.smtp_address is None and servers.lmtp_address == path
    raw = make_message()
    with lmtp_client(path) as client:
        client.ehlo("postfix.example.org")
        assert client.sendmail("alice@example.com", [DEV], raw) == {}
    [message] = stored(session, msgid_of(raw))
    assert list_ids_of(session, message.id) == {lists["dev"]}
