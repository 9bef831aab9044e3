"""API tokens: shown once, stored as a digest, refused once revoked or expired."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.models import ApiToken
from accounts.tokens import TokenRefused, create_token, revoke_token, tokens_of, user_for_token
from accounts.users import create_user
from core.db import utcnow


@pytest.fixture
def ada(session):
    user = create_user(session, "ada", "ada@example.org")
    session.commit()
    return user


def test_a_token_is_recognisable_random_and_only_its_digest_is_kept(session, ada):
    row, token = create_token(session, ada, "ci", timedelta(days=30))
    other_row, other = create_token(session, ada, "laptop", timedelta(days=30))
    session.commit()
    assert re.fullmatch(r"my_[A-Za-z0-9_-]{43}", token) and token != other
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert sorted(stored) == sorted(hashlib.sha256(t.encode()).hexdigest() for t in (token, other))
    assert not any(token in value for value in stored)
    assert row.expires_at - row.created_at == timedelta(days=30)


def test_a_token_acts_as_its_user_and_notes_its_use(session, ada):
    row, token = create_token(session, ada, "ci", timedelta(days=30))
    assert row.last_used_at is None
    assert user_for_token(session, token).id == ada.id
    assert row.last_used_at is not None


def test_revoked_expired_unknown_and_foreign_tokens_are_refused(session, ada):
    row, token = create_token(session, ada, "ci", timedelta(days=1))
    later = utcnow() + timedelta(days=1, seconds=1)
    with pytest.raises(TokenRefused, match="'ci' expired on"):
        user_for_token(session, token, now=later)
    with pytest.raises(TokenRefused, match="unknown API token"):
        user_for_token(session, "my_" + "A" * 43)
    with pytest.raises(TokenRefused, match="not a Mailyard API token"):
        user_for_token(session, "ghp_something")
    bea = create_user(session, "bea", "bea@example.org")
    with pytest.raises(TokenRefused, match="no such token"):
        revoke_token(session, bea, row.id)
    revoke_token(session, ada, row.id)
    with pytest.raises(TokenRefused, match="'ci' was revoked"):
        user_for_token(session, token)
    assert [t.revoked_at is not None for t in tokens_of(session, ada)] == [True]
