"""DKIM verification with a real RSA key pair, published in the local DNS table."""

from __future__ import annotations

import pytest

from mail.dkim import DkimResult, DkimVerdict, is_aligned, verify_dkim
from mail.dns import resolve_txt
from tests.intake import sign
from tests.messages import make_message, msgid_of, send, stored


def test_signature_by_the_from_domain_passes_aligned(rsa_key, publish):
    publish("example.com")
    raw = sign(make_message(), "example.com", rsa_key[0])
    assert verify_dkim(raw, "example.com") == DkimVerdict(DkimResult.PASS, "example.com", True)


def test_from_a_subdomain_of_the_signer_is_aligned(rsa_key, publish):
    publish("example.com")
    raw = sign(make_message(from_="a@mail.example.com"), "example.com", rsa_key[0])
    assert verify_dkim(raw, "mail.example.com") == DkimVerdict(DkimResult.PASS, "example.com", True)


def test_tampered_body_fails(rsa_key, publish):
    publish("example.com")
    raw = sign(make_message(), "example.com", rsa_key[0]).replace(b"Hello", b"Jello")
    verdict = verify_dkim(raw, "example.com")
    assert verdict.result is DkimResult.FAIL
    assert verdict.domain == "example.com" and not verdict.aligned


def test_tampered_signed_header_fails(rsa_key, publish):
    publish("example.com")
    raw = sign(make_message(), "example.com", rsa_key[0]).replace(b"hello", b"HELLO")
    assert verify_dkim(raw, "example.com").result is DkimResult.FAIL


def test_unsigned_mail_is_none(publish):
    publish("example.com")
    assert verify_dkim(make_message(), "example.com") == DkimVerdict(DkimResult.NONE)


def test_signature_by_another_domain_passes_but_is_not_aligned(rsa_key, publish):
    publish("esp.example.net")
    raw = sign(make_message(), "esp.example.net", rsa_key[0])
    assert verify_dkim(raw, "example.com") == DkimVerdict(DkimResult.PASS, "esp.example.net", False)


def test_aligned_signature_wins_over_an_unaligned_one(rsa_key, publish):
    publish("example.com")
    publish("esp.example.net")
    raw = sign(sign(make_message(), "example.com", rsa_key[0]), "esp.example.net", rsa_key[0])
    assert verify_dkim(raw, "example.com") == DkimVerdict(DkimResult.PASS, "example.com", True)


def test_signature_whose_key_is_not_published_fails(rsa_key):
    raw = sign(make_message(), "example.com", rsa_key[0])
    assert verify_dkim(raw, "example.com").result is DkimResult.FAIL


def test_malformed_signature_fails_without_raising():
    raw = b"DKIM-Signature: v=1; garbage\r\n" + make_message()
    assert verify_dkim(raw, "example.com").result is DkimResult.FAIL


@pytest.mark.parametrize(
    ("from_domain", "signer", "aligned"),
    [
        ("example.com", "example.com", True),
        ("Mail.Example.com.", "example.com", True),
        ("example.com", "mail.example.com", False),
        ("badexample.com", "example.com", False),
        ("", "example.com", False),
    ],
)
def test_relaxed_alignment(from_domain, signer, aligned):
    assert is_aligned(from_domain, signer) is aligned


def test_local_key_table_answers_every_txt_lookup(dns_table):
    dns_table.add("_dmarc.Example.com.", "v=DMARC1; p=none")
    assert resolve_txt("_dmarc.example.com") == ["v=DMARC1; p=none"]
    assert resolve_txt("nothing.example.com") == []


def test_intake_keeps_the_dkim_verdict_on_the_message(intake, session, rsa_key, publish):
    publish("example.com")
    raw = sign(make_message(), "example.com", rsa_key[0])
    send(intake.smtp_address, raw)
    [message] = stored(session, msgid_of(raw))
    assert (message.dkim_result, message.dkim_domain, message.dkim_aligned) == (
        "pass",
        "example.com",
        True,
    )
    unsigned = make_message()
    send(intake.smtp_address, unsigned)
    [message] = stored(session, msgid_of(unsigned))
    assert (message.dkim_result, message.dkim_domain, message.dkim_aligned) == ("none", "", False)
