"""A real SMTP client other than Python's: swaks, as admins test a mail server."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from sqlalchemy import select

from archive.models import Message
from tests.messages import DEV


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (apt: swaks)")
def test_swaks_post_is_accepted_and_stored(intake, session, lists):
    host, port = intake.smtp_address
    done = subprocess.run(
        [
            "swaks",
            "--server",
            f"{host}:{port}",
            "--to",
            DEV,
            "--from",
            "a@example.com",
            "--header",
            "Subject: hi",
            "--body",
            "hello",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<-  250 2.0.0 OK" in done.stdout.splitlines()
    session.expire_all()
    [message] = session.scalars(select(Message).where(Message.envelope_from == "a@example.com"))
    assert b"Subject: hi" in session.scalar(select(Message.raw).where(Message.id == message.id))
