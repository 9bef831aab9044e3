"""DKIM signing of list copies: every signature made must verify with dkimpy and with
intake's own `verify_dkim`, on whatever shape of message a list sends out."""

from __future__ import annotations

import base64
import re

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dkim.util import parse_tag_value

from mail.dkim import DkimResult, DkimVerdict, verify_dkim
from mail.dkim_sign import (
    LIST_SIGNED_HEADERS,
    DkimKeyError,
    DkimSigner,
    dns_record,
    dns_record_name,
    generate_key,
    load_signer,
    sign_message,
)
from mail.dns import LocalKeyTable, dkim_dnsfunc

DOMAIN = "lists.example.org"
SELECTOR = "list2024"

# `openssl genrsa -traditional 512`: too short to be a DKIM key, and too short for
# `cryptography` to make one.
SHORT_KEY = b"""-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBAKhFdXE+yC9l5qQpqehjCLYaaQcmHkm347Mlr/x5oWeHQJctSOjH
W0vkBgU0M4Z0Mx4SzVXuZ2wqdCReP4P2o9kCAwEAAQJACrwrqubbdJKmrTBvQ4EV
7DAxJSCcbA2MPECaQpwr3OPckk8mWisbk/QsK8wb8R8GxVUJ9kV06W2GngGU3qSm
tQIhANFiDtdfwsuKU5jHkpaQizAXlTTaYwuiLSZgD9K2nVRzAiEAzbw1PdaROI/M
yo5gLMY25vXZDebK50bPMf9RvS67n4MCIQCZ+WQ0maUkDOsA1PJFarIQgacloNtp
OK+/IrFAIS59ZQIhAKvYGgyl7bT2ABPs6o5bnj46eeuvrCmULrrPTaIcp+ErAiEA
ntCUtuDtaYV8PDSOjILdOA8SXScQaQ/4Bt8fP2m6+HA=
-----END RSA PRIVATE KEY-----
"""

HEADERS = (
    b"From: Ann Author <ann@lists.example.org>\n"
    b"To: dev@lists.example.org\n"
    b"Subject: [dev] [PATCH 1/2] parse: accept empty input\n"
    b"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
    b"Message-ID: <20240101120000.1@example.org>\n"
    b"List-Id: <dev.lists.example.org>\n"
    b"List-Unsubscribe: <https://lists.example.org/dev/unsubscribe/s3cr3t-0042>\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
)

# Written with LF; every one is also signed as CRLF.
MESSAGES = {
    "plain": HEADERS + b"\nHello,\n\nhere is the patch.\n",
    "folded_and_repeated": (
        b"Received: from mx.example.net (mx.example.net [192.0.2.1])\n"
        b"\tby lists.example.org with ESMTPS id 1; Mon, 01 Jan 2024 12:00:02 +0000\n"
        b"Received: from laptop (unknown [198.51.100.7])\n"
        b"        by mx.example.net with ESMTPSA id 2; Mon, 01 Jan 2024 12:00:01 +0000\n"
        + HEADERS.replace(b"Subject: [dev]", b"Subject: [dev]\n\t a subject that\n  is folded")
        + b"Cc: Bob <bob@example.com>,\n Carol <carol@example.com>\n"
        b"Cc: dave@example.com\n"
        b"References: <a@example.org>\n <b@example.org>\n\t<c@example.org>\n"
        b"\nbody\n"
    ),
    "odd_whitespace": (
        HEADERS.replace(b"Subject: ", b"Subject:\t  lots   of \t space  \t")
        .replace(b"To: ", b"To:")
        .replace(b"Date: ", b"Date:     ")
        + b"Content-Type: text/plain;\n \t charset=us-ascii   \n"
        b"X-Trailing: value with trailing blanks \t \n"
        b"\n  indented line\t \nword   word\t\tword  \n \t \n"
    ),
    "utf8_8bit": (
        HEADERS.replace(b"Subject: ", "Subject: Grüße — ça va ? ".encode())
        + "Reply-To: Zoë <zoe@example.com>\n".encode()
        + b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + "Ünïcödé body, 日本語, and a stray latin-1 byte: ".encode()
        + b"\xe9\n"
    ),
    "empty_body": HEADERS + b"\n",
    "headers_only": HEADERS,
    "headers_only_no_newline": HEADERS.rstrip(b"\n"),
    "trailing_blank_lines": HEADERS + b"\nbody\n\n\n\n",
    "trailing_blank_lines_with_spaces": HEADERS + b"\nbody\n  \n\t\n\n",
    "no_trailing_newline": HEADERS + b"\nfirst line\nlast line without newline",
    "mbox_from_line": b"From ann@lists.example.org Mon Jan  1 12:00:00 2024\n" + HEADERS + b"\nx\n",
}


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def pem() -> bytes:
    return generate_key()


@pytest.fixture
def signer(pem: bytes, dns_table: LocalKeyTable) -> DkimSigner:
    dns_table.add_dkim_key(SELECTOR, DOMAIN, dns_record(pem))
    return load_signer(pem, SELECTOR, DOMAIN)


def verifies(signed: bytes) -> bool:
    """dkimpy and intake agree on the verdict; True when it is an aligned pass."""
    by_dkimpy = dkimpy.verify(signed, dnsfunc=dkim_dnsfunc)
    verdict = verify_dkim(signed, DOMAIN)
    assert by_dkimpy == (verdict.result is DkimResult.PASS), (by_dkimpy, verdict)
    if by_dkimpy:
        assert verdict == DkimVerdict(DkimResult.PASS, DOMAIN, True)
    return by_dkimpy


def signature_header(signed: bytes, raw: bytes) -> bytes:
    assert signed.endswith(raw)
    header = signed[: len(signed) - len(raw)]
    assert header.startswith(b"DKIM-Signature: ")
    return header


def tags(header: bytes) -> dict[bytes, bytes]:
    """The tags of the DKIM-Signature field that `header` starts with."""
    field = re.match(rb"DKIM-Signature:(.*?\n)(?![ \t])", header, re.DOTALL)
    assert field is not None
    return parse_tag_value(re.sub(rb"\r?\n[ \t]", b" ", field.group(1)))


def h_tag(signed: bytes) -> list[str]:
    return [h.strip().decode() for h in tags(signed)[b"h"].split(b":")]


@pytest.mark.parametrize("ending", ["lf", "crlf"])
@pytest.mark.parametrize("name", MESSAGES)
def test_signature_verifies(signer: DkimSigner, pem: bytes, name: str, ending: str) -> None:
    raw = MESSAGES[name] if ending == "lf" else crlf(MESSAGES[name])
    signed = sign_message(raw, signer)
    header = signature_header(signed, raw)

    assert verifies(signed)
    lines = header.split(b"\n")
    assert lines[-1] == b""
    assert all(line.endswith(b"\r") == (ending == "crlf") for line in lines[:-1])
    assert max(len(line.rstrip(b"\r")) for line in lines) <= 78
    assert lines[1][:1] == b" "  # folded, with continuation lines
    # the body hash is dkimpy's own relaxed canonicalization
    by_dkimpy = dkimpy.sign(raw, b"x", DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed"))
    assert tags(header)[b"bh"] == tags(by_dkimpy)[b"bh"]


def test_signature_tags(signer: DkimSigner) -> None:
    raw = MESSAGES["plain"]
    fields = tags(signature_header(sign_message(raw, signer), raw))
    assert fields[b"v"] == b"1"
    assert fields[b"a"] == b"rsa-sha256"
    assert fields[b"c"] == b"relaxed/relaxed"
    assert fields[b"d"] == DOMAIN.encode()
    assert fields[b"s"] == SELECTOR.encode()
    assert fields[b"t"].isdigit()
    assert len(base64.b64decode(re.sub(rb"\s+", b"", fields[b"b"]))) == 256  # 2048 bits


def test_h_lists_each_occurrence_and_oversigns(signer: DkimSigner) -> None:
    signed = sign_message(crlf(MESSAGES["folded_and_repeated"]), signer)
    assert h_tag(signed) == [
        "from", "from", "to", "cc", "cc", "subject", "subject", "date", "message-id",
        "references", "list-id", "list-id", "list-unsubscribe", "list-unsubscribe",
        "list-unsubscribe-post", "list-unsubscribe-post",
    ]  # fmt: skip


def test_absent_headers_are_listed_only_when_oversigned(signer: DkimSigner) -> None:
    raw = b"From: ann@lists.example.org\nTo: dev@lists.example.org\n\nbody\n"
    signed = sign_message(raw, signer)
    assert h_tag(signed) == [
        "from", "from", "to", "subject", "list-id", "list-unsubscribe", "list-unsubscribe-post",
    ]  # fmt: skip
    assert verifies(signed)


def test_custom_header_list(signer: DkimSigner) -> None:
    raw = crlf(MESSAGES["folded_and_repeated"])
    signed = sign_message(raw, signer, headers=["From", "Received", "from", " Subject "])
    assert h_tag(signed) == ["from", "from", "received", "received", "subject", "subject"]
    assert verifies(signed)
    tampered = signed.replace(b"Received: from mx", b"Received: from MX", 1)
    assert not verifies(tampered)


def test_header_list_must_name_from(signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="From"):
        sign_message(MESSAGES["plain"], signer, headers=("to", "subject"))
    with pytest.raises(ValueError, match="not a header field name"):
        sign_message(MESSAGES["plain"], signer, headers=("from", "x bad"))


@pytest.mark.parametrize("ending", ["lf", "crlf"])
@pytest.mark.parametrize(
    "before, after",
    [
        (b"Subject: [dev]", b"Subject: [DEV]"),
        (b"s3cr3t-0042", b"s3cr3t-0043"),
        (b"From: Ann Author", b"From: Ann  Author2"),
        (b"here is the patch.", b"here is the patch!"),
        (b"List-Unsubscribe-Post: ", b"X-Was-List-Unsubscribe-Post: "),
    ],
)
def test_tampering_after_signing_fails(
    signer: DkimSigner, ending: str, before: bytes, after: bytes
) -> None:
    raw = MESSAGES["plain"] if ending == "lf" else crlf(MESSAGES["plain"])
    signed = sign_message(raw, signer)
    assert verifies(signed)
    tampered = signed.replace(before, after, 1)
    assert tampered != signed
    assert not verifies(tampered)


def test_relaxed_canonicalization_survives_rewhitespacing(signer: DkimSigner) -> None:
    """What relays do to headers in transit (refolding, changing blanks) must not matter."""
    signed = sign_message(MESSAGES["plain"], signer)
    refolded = signed.replace(b"Subject: [dev] [PATCH 1/2]", b"Subject:   [dev]\n\t[PATCH 1/2]")
    assert verifies(refolded)


@pytest.mark.parametrize(
    "added",
    [
        b"From: Mallory <mallory@lists.example.org>",
        b"Subject: [dev] please read this instead",
        b"List-Unsubscribe: <https://evil.example/phish>",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Id: <other.lists.example.org>",
    ],
)
@pytest.mark.parametrize("where", ["top", "bottom"])
def test_adding_an_oversigned_header_fails(signer: DkimSigner, added: bytes, where: str) -> None:
    raw = MESSAGES["plain"].replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n", b"")
    signed = sign_message(raw, signer)
    assert verifies(signed)
    if where == "top":
        forged = added + b"\n" + signed
    else:
        forged = signed.replace(b"\n\nHello,", b"\n" + added + b"\n\nHello,", 1)
    assert not verifies(forged)


def test_adding_a_header_that_is_not_oversigned_still_verifies(signer: DkimSigner) -> None:
    """The counterpart of the test above: a second To on top, or a new Received, is
    allowed, so it is oversigning that makes those additions fail."""
    signed = sign_message(MESSAGES["plain"], signer)
    assert verifies(b"To: someone@example.com\n" + signed)
    assert verifies(b"Received: from relay.example.net by mx.example.com; now\n" + signed)


@pytest.mark.parametrize("ending", ["lf", "crlf"])
@pytest.mark.parametrize(
    "bad_line",
    [
        b"this line is not a header field",
        b"X-Bad Name: a space in the field name",
        "X-Ñame: 8-bit field name".encode(),
        b":no name at all",
    ],
)
def test_malformed_header_lines_are_left_unsigned(
    signer: DkimSigner, pem: bytes, ending: str, bad_line: bytes
) -> None:
    """dkimpy refuses such a message outright; we sign the fields around the bad line,
    which verify once the line is gone (no dkimpy verifier will accept it in place)."""
    good = MESSAGES["plain"]
    raw = good.replace(b"Date: ", bad_line + b"\nDate: ", 1)
    raw, good = (raw, good) if ending == "lf" else (crlf(raw), crlf(good))
    with pytest.raises(dkimpy.MessageFormatError):
        dkimpy.sign(raw, b"x", DOMAIN.encode(), pem)

    signed = sign_message(raw, signer)
    sep = b"\n" if ending == "lf" else b"\r\n"
    repaired = signed.replace(bad_line + sep, b"", 1)
    assert repaired.endswith(good)
    assert verifies(repaired)


def test_continuation_line_before_any_field_is_left_unsigned(signer: DkimSigner) -> None:
    raw = b"  a stray continuation\n" + MESSAGES["plain"]
    signed = sign_message(raw, signer)
    assert verifies(signed.replace(b"  a stray continuation\n", b"", 1))


def test_whitespace_before_the_colon_is_signed_as_that_field(signer: DkimSigner) -> None:
    """Obsolete RFC 5322 syntax; relaxed canonicalization drops the blank before ':'."""
    raw = MESSAGES["plain"].replace(b"Subject: ", b"Subject : ")
    assert h_tag(sign_message(raw, signer)).count("subject") == 2


def test_signature_made_by_dkimpy_key_tooling(rsa_key, dns_table: LocalKeyTable) -> None:
    """A key made with dkimpy's dknewkey (openssl) signs, and its own record verifies."""
    private, record = rsa_key
    dns_table.add_dkim_key("sel", DOMAIN, record)
    signed = sign_message(MESSAGES["plain"], load_signer(private, "sel", DOMAIN))
    assert verifies(signed)


def test_generated_key_and_record_round_trip(dns_table: LocalKeyTable) -> None:
    pem = generate_key(1024)
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 1024

    record = dns_record(pem)
    prefix, p = record.split("p=")
    assert prefix == "v=DKIM1; k=rsa; "
    public = serialization.load_der_public_key(base64.b64decode(p))
    assert public.public_numbers() == key.public_key().public_numbers()

    dns_table.add(dns_record_name("s1", DOMAIN), record)
    assert verifies(sign_message(MESSAGES["plain"], load_signer(pem, "s1", DOMAIN)))
    # dkimpy reads the generated key too (traditional PEM)
    by_dkimpy = dkimpy.sign(MESSAGES["plain"], b"s1", DOMAIN.encode(), pem)
    assert verifies(by_dkimpy + MESSAGES["plain"])


def test_generate_key_default_is_2048_bits() -> None:
    key = serialization.load_pem_private_key(generate_key(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    with pytest.raises(DkimKeyError, match="at least 1024"):
        generate_key(768)


def test_dns_record_name() -> None:
    assert dns_record_name("sel", "Lists.Example.org.") == "sel._domainkey.lists.example.org"


def pem_of(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "pem, message",
    [
        (b"", "no -----BEGIN line"),
        (b"not a key at all\n", "no -----BEGIN line"),
        (
            b"-----BEGIN RSA PRIVATE KEY-----\nbm9wZQ==\n-----END RSA PRIVATE KEY-----\n",
            "cannot be read",
        ),
        (
            b"-----BEGIN RSA PRIVATE KEY-----\nMIIBPAIBAAJBAKhFdXE+yC9l5qQpqehjCLYa\n",
            "cannot be read",
        ),
        (pem_of(ed25519.Ed25519PrivateKey.generate()), "Ed25519 key; DKIM signing here needs RSA"),
        (pem_of(ec.generate_private_key(ec.SECP256R1())), r"EC \(secp256r1\) key"),
        (SHORT_KEY, "512 bits; verifiers reject keys under 1024 bits"),
    ],
    ids=["empty", "garbage", "bad-base64-body", "truncated", "ed25519", "ec", "512-bit"],
)
def test_load_signer_refuses_unusable_keys(pem: bytes, message: str) -> None:
    with pytest.raises(DkimKeyError, match=message):
        load_signer(pem, SELECTOR, DOMAIN)
    with pytest.raises(DkimKeyError, match=message):
        dns_record(pem)


def test_load_signer_refuses_public_and_encrypted_keys(pem: bytes) -> None:
    key = serialization.load_pem_private_key(pem, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(DkimKeyError, match="public key; signing needs the private key"):
        load_signer(public, SELECTOR, DOMAIN)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(DkimKeyError, match="encrypted"):
        load_signer(encrypted, SELECTOR, DOMAIN)


def test_load_signer_accepts_pkcs8_and_normalizes_names(pem: bytes) -> None:
    key = serialization.load_pem_private_key(pem, password=None)
    signer = load_signer(pem_of(key), " sel ", "Lists.Example.ORG.")
    assert (signer.selector, signer.domain) == ("sel", "lists.example.org")
    assert signer.key.key_size == 2048


@pytest.mark.parametrize("selector, domain", [("", DOMAIN), ("a b", DOMAIN), ("s", "x;y.org")])
def test_load_signer_refuses_bad_names(pem: bytes, selector: str, domain: str) -> None:
    with pytest.raises(ValueError, match="not an ASCII DNS name"):
        load_signer(pem, selector, domain)


def test_list_signed_headers_are_lowercase_and_unique() -> None:
    assert all(h == h.lower() for h in LIST_SIGNED_HEADERS)
    assert len(set(LIST_SIGNED_HEADERS)) == len(LIST_SIGNED_HEADERS)
    assert LIST_SIGNED_HEADERS[0] == "from"
