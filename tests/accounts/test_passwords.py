"""Passwords are stored as argon2id hashes and follow the hasher's parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from accounts.models import User
from accounts.passwords import (
    HASHER,
    PasswordRefused,
    change_password,
    check_password,
    set_password,
    validate_password,
)

PASSWORD = "correct horse battery"


def test_only_an_argon2id_hash_is_stored_and_it_checks():
    user = User(username="ada")
    set_password(user, PASSWORD)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert check_password(user, PASSWORD)
    assert not check_password(user, PASSWORD.upper())
    assert not check_password(user, "")


def test_a_hash_made_with_old_parameters_is_upgraded_on_sign_in():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    user = User(username="ada", password_hash=weak.hash(PASSWORD))
    old = user.password_hash
    assert HASHER.check_needs_rehash(old)
    assert not check_password(user, "wrong password!")
    assert user.password_hash == old  # a failed attempt changes nothing
    assert check_password(user, PASSWORD)
    assert user.password_hash != old and not HASHER.check_needs_rehash(user.password_hash)
    assert check_password(user, PASSWORD)


def test_no_password_and_no_user_never_match():
    assert not check_password(User(username="ada", password_hash=""), "")
    assert not check_password(None, PASSWORD)
    damaged = User(username="ada", password_hash="$argon2id$garbage")
    assert not check_password(damaged, PASSWORD)


@pytest.mark.parametrize(
    "password, reason",
    [("short", "at least 10"), (" " * 12, "only spaces"), ("x" * 2000, "at most 1024")],
)
def test_weak_or_absurd_passwords_are_refused(password, reason):
    with pytest.raises(PasswordRefused, match=reason):
        validate_password(password)


def test_changing_needs_the_current_password_unless_there_is_none():
    user = User(username="ada")
    set_password(user, PASSWORD)
    with pytest.raises(PasswordRefused, match="current password is not right"):
        change_password(user, "not it at all", "a new password here")
    change_password(user, PASSWORD, "a new password here")
    assert check_password(user, "a new password here")
    blank = User(username="bea", password_hash="")
    change_password(blank, "", "a first password")
    assert check_password(blank, "a first password")
