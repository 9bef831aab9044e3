"""What the account tests share: throwaway OpenPGP keys made by the real gpg, real SSH
keys made by ssh-keygen when it exists, the steps a person takes in a browser, and
users made directly for the tests of what they may do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import flask
import gnupg

from accounts.models import User, UserAddress
from core.db import utcnow
from mail.pgp import stop_gnupg_daemons
from web import auth

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# A real key and what `ssh-keygen -lf` printed for it, usable without ssh-keygen.
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaybGfKy3n4H9yrXRjU0MSnIOiI0OxHolmgiLs2qsZm ada@laptop"
)
ED25519_FINGERPRINT = "SHA256:6bwZVG+ybi6r6fWjBTcrsuiihoS2JNlD6UfUJOdgH4E"


def make_pgp_keys(*emails: str) -> dict[str, tuple[str, str]]:
    """For each address, a fresh ed25519 signing key naming it: (fingerprint, armored
    public key). Made in a temporary GnuPG home whose agent is stopped before it goes."""
    keys = {}
    with tempfile.TemporaryDirectory(prefix="mailyard-test-gpg-") as home:
        os.chmod(home, 0o700)
        try:
            gpg = gnupg.GPG(gnupghome=home)
            for email in emails:
                fingerprint = _signing_key(gpg, email)
                keys[email] = (fingerprint, gpg.export_keys(fingerprint))
        finally:
            stop_gnupg_daemons(home)
    return keys


@contextmanager
def pgp_signer(email: str) -> Iterator[tuple[str, Callable[[str], str]]]:
    """A fresh ed25519 signing key for `email`, kept while the block runs: (armored public
    key, clearsign(text) -> the clearsigned block), signed by the real gpg."""
    with tempfile.TemporaryDirectory(prefix="mailyard-test-gpg-") as home:
        os.chmod(home, 0o700)
        try:
            gpg = gnupg.GPG(gnupghome=home)
            fingerprint = _signing_key(gpg, email)

            def clearsign(text: str) -> str:
                signed = gpg.sign(text, clearsign=True, keyid=fingerprint)
                assert signed.data, signed.stderr
                return str(signed)

            yield gpg.export_keys(fingerprint), clearsign
        finally:
            stop_gnupg_daemons(home)


def _signing_key(gpg: gnupg.GPG, email: str) -> str:
    """The fingerprint of a new ed25519 signing key naming `email`, without passphrase."""
    made = gpg.gen_key(
        gpg.gen_key_input(
            key_type="EDDSA",
            key_curve="ed25519",
            key_usage="sign",
            name_real="Test Key",
            name_email=email,
            expire_date="0",
            no_protection=True,
        )
    )
    assert made.fingerprint, made.stderr
    return made.fingerprint


def ssh_keygen(directory: Path, key_type: str, bits: int | None = None) -> tuple[str, str] | None:
    """A new public key line and `ssh-keygen -lf`'s fingerprint of it; None without
    ssh-keygen."""
    if shutil.which("ssh-keygen") is None:
        return None
    path = directory / f"id_{key_type}_{bits or 0}"
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "test@host", "-f", str(path)]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True
    )
    return Path(f"{path}.pub").read_text().strip(), listed.stdout.split()[1]


def csrf_from(page: str) -> str:
    return CSRF.search(page).group(1)


def form_token(client, path: str = "/account/reset") -> str:
    """This browser session's CSRF token, read from a form page as a browser would."""
    return csrf_from(client.get(path).get_data(as_text=True))


def body_of(mail_content: bytes) -> str:
    """The decoded text of a plain-text mail we sent."""
    message = BytesParser(policy=default).parsebytes(mail_content)
    return message.get_content()


def link_in(mail_content: bytes, path_prefix: str) -> str:
    """The path of the link starting with `path_prefix` in a mail we sent."""
    text = body_of(mail_content)
    found = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]+)", text)
    assert found, text
    return found.group(1)


def follow_confirm_link(client, path: str):
    """Open a mailed link (a GET that only shows a form), then press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert 'method="post"' in html
    return client.post(path, data={"csrf_token": csrf_from(html)})


def sign_in(client, login: str, password: str, next_path: str = ""):
    return client.post(
        "/login",
        data={
            "csrf_token": form_token(client),
            "login": login,
            "password": password,
            "next": next_path,
        },
    )


# -- users made directly, for tests of what accounts may do ------------------------------

CSRF_TOKEN = "test-csrf-token"  # the form token `sign_in_user` puts in the session


def make_user(session, username: str, *addresses: str, admin: bool = False) -> User:
    """A confirmed user whose addresses (USERNAME@example.com if none) are all confirmed,
    the first one primary; committed, so servers in other threads see it."""
    user = User(username=username, is_admin=admin, confirmed_at=utcnow())
    session.add(user)
    session.flush()
    for i, address in enumerate(addresses or (f"{username}@example.com",)):
        session.add(
            UserAddress(
                user_id=user.id,
                address=address,
                address_key=address.lower(),
                confirmed_at=utcnow(),
                is_primary=i == 0,
            )
        )
    session.commit()
    return user


def sign_in_user(client, user: User | None) -> None:
    """Sign `user` in (or out) as `web.auth.sign_in` does, with CSRF_TOKEN as the form
    token."""
    with client.application.test_request_context():
        if user is not None:
            auth.sign_in(user)
        cookie = dict(flask.session)
    with client.session_transaction() as s:
        s.clear()
        s.update(cookie)
        s["csrf"] = CSRF_TOKEN


def post_form(client, url: str, **form):
    """POST a form as the signed-in browser would, CSRF token included."""
    return client.post(url, data={"csrf_token": CSRF_TOKEN, **form})
