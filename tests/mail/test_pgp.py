"""PGP signature checks with real keys made by the real gpg (no mocks).

Every key, signature and mail is made once, up front, in a throwaway GnuPG home whose
agent is stopped before the first test runs; the last test checks no agent is left.
"""

from __future__ import annotations

import base64
import os
import quopri
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gnupg
import pytest

from mail.pgp import PgpError, inspect_key, stop_gnupg_daemons, verify_signature

HOME_PREFIX = "mailyard-test-gpg-"
BOUNDARY = "=-=sig-boundary=-="
HEADERS = (
    "From: Alice Example <alice@example.com>\n"
    "To: dev@lists.example.org\n"
    "Subject: Re: [PATCH 1/2] Fix the thing\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
    "Message-ID: <signed@example.com>\n"
    "MIME-Version: 1.0\n"
)
# The first part of a PGP/MIME mail, as a mail client writes it (LF line ends here; the
# signature is over its CRLF form).
FIRST_PART = (
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: quoted-printable\n"
    b"\n"
    b"!status accepted\n"
    b"\n"
    b"Looks good to me. Caf=C3=A9 after?\n"
    b"-- \n"
    b"Alice\n"
)
TEXT = "!status accepted\n\nLooks good to me, = caf\u00e9 after? " + "long line " * 10 + "\n"


def running_agents() -> dict[int, str]:
    """Live gpg-agent processes (zombies left for a non-reaping init do not count)."""
    found = subprocess.run(["pgrep", "-f", "gpg-agent"], capture_output=True, text=True)
    agents: dict[int, str] = {}
    for pid in map(int, found.stdout.split()):
        proc = Path(f"/proc/{pid}")
        try:
            if proc.joinpath("comm").read_text().strip() != "gpg-agent":
                continue
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            agents[pid] = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue  # gone meanwhile
    return agents


@dataclass
class Material:
    agents_before: dict[int, str]
    fpr: dict[str, str] = field(default_factory=dict)  # name -> primary fingerprint
    public: dict[str, str] = field(default_factory=dict)  # name -> armored public key
    secret_a: str = ""
    detached: dict[str, str] = field(default_factory=dict)  # name -> sig over FIRST_PART
    clearsigned: dict[str, bytes] = field(default_factory=dict)  # name -> block over TEXT
    opaque_a: str = ""  # a non-detached signed message by A


def _signing_key(gpg: gnupg.GPG, email: str, **extra: str) -> str:
    params = {
        "key_type": "EDDSA",
        "key_curve": "ed25519",
        "key_usage": "sign",
        "name_email": email,
        "expire_date": "0",
        "no_protection": True,
    }
    params.update(extra)
    key = gpg.gen_key(gpg.gen_key_input(**params))
    assert key.fingerprint, key.stderr
    return key.fingerprint


@pytest.fixture(scope="module")
def material() -> Iterator[Material]:
    """Keys A, B (good), S (signs with a subkey), R (revoked), E (expired), and what each
    signed; gpg's agent for the home is stopped before any test runs."""
    made = Material(agents_before=running_agents())
    with tempfile.TemporaryDirectory(prefix=HOME_PREFIX) as home:
        os.chmod(home, 0o700)
        try:
            gpg = gnupg.GPG(gnupghome=home)
            past = gnupg.GPG(gnupghome=home, options=["--faked-system-time", "20200101T000000!"])
            made.fpr["A"] = _signing_key(gpg, "Alice@Example.com", name_real="Alice Example")
            made.fpr["B"] = _signing_key(gpg, "bob@example.com")
            made.fpr["S"] = _signing_key(
                gpg,
                "sub@example.com",
                key_usage="cert",
                subkey_type="EDDSA",
                subkey_curve="ed25519",
                subkey_usage="sign",
            )
            made.fpr["R"] = _signing_key(gpg, "revoked@example.com")
            made.fpr["E"] = _signing_key(past, "expired@example.com", expire_date="1d")

            signed = FIRST_PART.replace(b"\n", b"\r\n")
            for name, fpr in made.fpr.items():
                signer = past if name == "E" else gpg
                made.detached[name] = str(signer.sign(signed, detach=True, keyid=fpr))
                made.clearsigned[name] = signer.sign(TEXT.encode(), clearsign=True, keyid=fpr).data
                assert made.detached[name] and made.clearsigned[name], name
            made.opaque_a = str(gpg.sign(b"something else\r\n", keyid=made.fpr["A"]))

            revocation = Path(home, "openpgp-revocs.d", made.fpr["R"] + ".rev").read_text()
            gpg.import_keys(revocation.replace(":-----BEGIN", "-----BEGIN"))
            for name, fpr in made.fpr.items():
                made.public[name] = gpg.export_keys(fpr)
            made.secret_a = gpg.export_keys(made.fpr["A"], secret=True, expect_passphrase=False)
            keys = {k["fingerprint"]: k["trust"] for k in gpg.list_keys()}
            assert keys[made.fpr["R"]] == "r" and keys[made.fpr["E"]] == "e"
        finally:
            stop_gnupg_daemons(home)
    yield made


# --- mails -------------------------------------------------------------------------------


def pgp_mime(signature: str, first_part: bytes = FIRST_PART, crlf: bool = False) -> bytes:
    """A PGP/MIME mail assembled by hand, the way a mail client sends it."""
    raw = (
        HEADERS.encode()
        + b"Content-Type: multipart/signed; micalg=pgp-sha512;\n"
        + b' protocol="application/pgp-signature"; boundary="'
        + BOUNDARY.encode()
        + b'"\n\nThis is an OpenPGP/MIME signed message (RFC 4880 and 3156)\n--'
        + BOUNDARY.encode()
        + b"\n"
        + first_part
        + b"\n--"  # the line break before a delimiter belongs to it (RFC 2046)
        + BOUNDARY.encode()
        + b'\nContent-Type: application/pgp-signature; name="signature.asc"\n'
        + b"Content-Description: OpenPGP digital signature\n"
        + b'Content-Disposition: attachment; filename="signature.asc"\n\n'
        + signature.encode()
        + b"\n--"
        + BOUNDARY.encode()
        + b"--\n"
    )
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def inline(block: bytes, encoding: str = "7bit", before: bytes = b"") -> bytes:
    """A single-part text/plain mail whose body is a clearsigned block."""
    body = before + block
    if encoding == "quoted-printable":
        body = quopri.encodestring(body)
    elif encoding == "base64":
        body = base64.encodebytes(body)
    return (
        HEADERS.encode()
        + b"Content-Type: text/plain; charset=utf-8\n"
        + b"Content-Transfer-Encoding: "
        + encoding.encode()
        + b"\n\n"
        + body
    )


def multipart_mixed(*parts: bytes) -> bytes:
    raw = HEADERS.encode() + b'Content-Type: multipart/mixed; boundary="mix"\n\n'
    for part in parts:
        raw += b"--mix\n" + part + b"\n"
    return raw + b"--mix--\n"


UNSIGNED = HEADERS.encode() + b"Content-Type: text/plain\n\n!status accepted\n"


# --- PGP/MIME ----------------------------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_pgp_mime_signed_by_a_registered_key(material, crlf):
    raw = pgp_mime(material.detached["A"], crlf=crlf)
    assert verify_signature(raw, [material.public["A"]]) == material.fpr["A"]
    keys = [material.public["B"], "not a key", material.public["A"]]
    assert verify_signature(raw, keys) == material.fpr["A"]


def test_pgp_mime_signed_by_another_key(material):
    assert verify_signature(pgp_mime(material.detached["B"]), [material.public["A"]]) is None


def test_pgp_mime_one_changed_byte(material):
    tampered = FIRST_PART.replace(b"accepted", b"acceptee")
    raw = pgp_mime(material.detached["A"], first_part=tampered)
    assert verify_signature(raw, [material.public["A"]]) is None


def test_signing_subkey_counts_for_its_primary_key(material):
    raw = pgp_mime(material.detached["S"])
    assert verify_signature(raw, [material.public["S"]]) == material.fpr["S"]


@pytest.mark.parametrize("name", ["R", "E"], ids=["revoked", "expired"])
def test_revoked_or_expired_key_does_not_count(material, name):
    assert verify_signature(pgp_mime(material.detached[name]), [material.public[name]]) is None
    assert verify_signature(inline(material.clearsigned[name]), [material.public[name]]) is None


def test_signature_part_must_be_detached(material):
    raw = pgp_mime(material.opaque_a)
    assert verify_signature(raw, [material.public["A"]]) is None


# --- inline ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["7bit", "quoted-printable", "base64"])
def test_inline_clearsigned(material, encoding):
    raw = inline(material.clearsigned["A"], encoding)
    assert verify_signature(raw, [material.public["A"]]) == material.fpr["A"]


def test_inline_clearsigned_as_first_part_of_a_multipart(material):
    raw = multipart_mixed(
        b"Content-Type: text/plain; charset=utf-8\n\n" + material.clearsigned["A"],
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC",
    )
    assert verify_signature(raw, [material.public["A"]]) == material.fpr["A"]


def test_inline_signed_by_another_key(material):
    assert verify_signature(inline(material.clearsigned["B"]), [material.public["A"]]) is None


def test_inline_tampered(material):
    block = material.clearsigned["A"].replace(b"accepted", b"rejected")
    assert verify_signature(inline(block), [material.public["A"]]) is None


def test_inline_with_unsigned_text_beside_it(material):
    """A signed block someone else wraps in words of their own proves nothing about them."""
    keys = [material.public["A"]]
    assert verify_signature(inline(material.clearsigned["A"], before=b"!close\n"), keys) is None
    raw = multipart_mixed(
        b"Content-Type: text/plain\n\n" + material.clearsigned["A"],
        b"Content-Type: text/plain\n\n!status rejected\n",
    )
    assert verify_signature(raw, keys) is None
    twice = material.clearsigned["A"] + b"\n" + material.clearsigned["B"]
    assert verify_signature(inline(twice), [material.public["A"], material.public["B"]]) is None


# --- not signed, malformed -----------------------------------------------------------------


def test_unsigned_mail(material):
    assert verify_signature(UNSIGNED, [material.public["A"]]) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\n\n\x81",
        b"no headers at all",
        HEADERS.encode() + b"Content-Type: multipart/signed; boundary=x\n\n--x\n\n--x--\n",
        HEADERS.encode()
        + b'Content-Type: multipart/signed; protocol="application/pgp-signature";'
        + b" boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n--x\n",
        HEADERS.encode()
        + 'Content-Type: multipart/signed; protocol="application/pgp-signature"; '
        'boundary="\u00e9"\n\n--\u00e9\n\nhi\n--\u00e9--\n'.encode(),
        inline(
            b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhi\n-----END PGP SIGNATURE-----"
        ),
    ],
    ids=["empty", "binary", "no-headers", "no-protocol", "unclosed", "non-ascii", "bad-block"],
)
def test_garbage(material, raw):
    assert verify_signature(raw, [material.public["A"]]) is None


def test_garbage_keys(material):
    raw = pgp_mime(material.detached["A"])
    assert verify_signature(raw, []) is None
    assert verify_signature(raw, ["junk", material.secret_a]) is None
    assert verify_signature(pgp_mime("junk"), [material.public["A"]]) is None
    assert verify_signature(pgp_mime(material.detached["A"], b"\n"), [material.public["A"]]) is None


def test_user_keyring_untouched(material, tmp_path, monkeypatch):
    user_home = tmp_path / "gnupg"
    user_home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(user_home))
    assert verify_signature(pgp_mime(material.detached["A"]), [material.public["A"]])
    inspect_key(material.public["A"])
    assert list(user_home.iterdir()) == []


# --- keys --------------------------------------------------------------------------------


def test_inspect_key(material):
    info = inspect_key(material.public["A"])
    assert info.fingerprint == material.fpr["A"].upper()
    assert info.uids == ("Alice Example <Alice@Example.com>",)
    assert info.emails == ("alice@example.com",)


@pytest.mark.parametrize(
    "armored, message",
    [
        ("", "not an armored"),
        ("hello", "not an armored"),
        (
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----",
            "no usable",
        ),
        ("secret", "secret key"),
        ("secret-as-public", "secret key"),
        ("two", "2 keys"),
        ("R", "revoked"),
        ("E", "expired"),
    ],
)
def test_inspect_key_refuses(material, armored, message):
    armored = {
        "secret": material.secret_a,
        "secret-as-public": material.secret_a.replace("PRIVATE", "PUBLIC"),
        "two": material.public["A"] + material.public["B"],
        "R": material.public["R"],
        "E": material.public["E"],
    }.get(armored, armored)
    with pytest.raises(PgpError, match=message):
        inspect_key(armored)


# --- last: nothing left running ----------------------------------------------------------


def test_zz_no_gpg_agent_left(material):
    """No gpg-agent of ours outlives its call (other ones may run: they are not ours)."""
    deadline = time.monotonic() + 5
    while True:
        new = {
            pid: cmd
            for pid, cmd in running_agents().items()
            if pid not in material.agents_before and "mailyard-" in cmd
        }
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert new == {}
