"""What a client sends in an envelope, byte for byte, over a real socket: 8-bit addresses
need SMTPUTF8 (RFC 6531), and no reply echoes a control character or a raw byte."""

from __future__ import annotations

import socket

import pytest

from tests.messages import DEV, make_message, msgid_of, send, stored


class RawClient:
    """A line-at-a-time SMTP client that sends exactly the bytes it is given."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.file = self.sock.makefile("rb")
        self.reply()  # the greeting

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.file.readline()
            lines.append(line)
            if line[3:4] != b"-":
                return b"".join(lines)

    def say(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw_client(intake):
    client = RawClient(intake.smtp_address)
    client.say(b"EHLO client.example")
    yield client
    client.close()


def test_an_8bit_mail_from_without_smtputf8_is_refused(raw_client):
    reply = raw_client.say("MAIL FROM:<jörg@example.com>".encode())
    assert reply.startswith(b"553 5.6.7") and b"SMTPUTF8" in reply


def test_an_8bit_rcpt_without_smtputf8_is_refused(raw_client):
    assert raw_client.say(b"MAIL FROM:<a@example.com>").startswith(b"250")
    reply = raw_client.say("RCPT TO:<dév@lists.example.org>".encode())
    assert reply.startswith(b"553 5.6.7")


def test_an_8bit_mail_from_with_smtputf8_is_taken(intake, session):
    raw = make_message(from_="Jörg <jörg@example.com>")
    assert (
        send(intake.smtp_address, raw, sender="jörg@example.com", mail_options=("SMTPUTF8",)) == {}
    )
    assert len(stored(session, msgid_of(raw))) == 1


def test_bytes_that_are_not_utf8_are_refused_and_shown_escaped(raw_client):
    reply = raw_client.say(b"MAIL FROM:<j\xffrg@example.com> SMTPUTF8")
    assert reply.startswith(b"553 5.1.7")
    assert b"\xff" not in reply


@pytest.mark.parametrize("command", [b"RCPT TO:<de\x00v@lists.example.org>", b"NO\x00OP"])
def test_a_nul_byte_is_never_echoed(raw_client, command):
    assert raw_client.say(b"MAIL FROM:<a@example.com>").startswith(b"250")
    reply = raw_client.say(command)
    assert reply[:1] == b"5" and b"\x00" not in reply
    assert not any(b < 0x20 for b in reply.rstrip(b"\r\n").replace(b"\r\n", b""))
    after = raw_client.say(b"RCPT TO:<" + DEV.encode() + b">")
    assert after.startswith(b"250")  # the session goes on
