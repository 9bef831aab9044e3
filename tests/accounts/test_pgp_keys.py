"""OpenPGP keys on accounts: checked by gpg, and only accepted when they name one of the
user's confirmed addresses; such a key then authenticates that address's mail."""

from __future__ import annotations

import pytest

from accounts.pgp_keys import (
    add_user_pgp_key,
    armored_keys_text,
    pgp_keys_of,
    registered_pgp_keys,
    remove_pgp_key,
)
from accounts.users import add_address, confirm_address, create_user
from mail.keys import KeyRefused
from tests.accounts.helpers import make_pgp_keys


@pytest.fixture(scope="module")
def keys():
    return make_pgp_keys("Ada@Example.org", "ada@work.example", "mallory@example.net")


def test_a_key_naming_a_confirmed_address_is_added_and_counts_for_it(session, keys):
    ada = create_user(session, "ada", "ada@example.org")
    fingerprint, armored = keys["Ada@Example.org"]
    row = add_user_pgp_key(session, ada, "Here is my key:\n" + armored + "\nthanks\n")
    assert row.fingerprint == fingerprint and row.emails == ["ada@example.org"]
    assert row.armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert row.armored.endswith("-----END PGP PUBLIC KEY BLOCK-----\n")
    assert registered_pgp_keys(session, "ada@example.org") == [row.armored]
    assert armored_keys_text(session, ada) == row.armored
    with pytest.raises(KeyRefused, match="already"):
        add_user_pgp_key(session, ada, armored)


def test_a_key_naming_none_of_the_users_addresses_is_refused_with_the_reason(session, keys):
    ada = create_user(session, "ada", "ada@example.org")
    fingerprint, armored = keys["mallory@example.net"]
    with pytest.raises(KeyRefused) as refused:
        add_user_pgp_key(session, ada, armored)
    reason = str(refused.value)
    assert fingerprint in reason and "mallory@example.net" in reason
    assert "none of that is a confirmed address of your account (ada@example.org)" in reason
    assert pgp_keys_of(session, ada) == []


def test_an_address_waiting_for_confirmation_does_not_count_until_confirmed(session, keys):
    ada = create_user(session, "ada", "ada@example.org")
    pending = add_address(session, ada, "ada@work.example")
    _, armored = keys["ada@work.example"]
    with pytest.raises(KeyRefused, match="none of that is a confirmed address"):
        add_user_pgp_key(session, ada, armored)
    confirm_address(session, ada.id, pending.id, pending.address_key)
    row = add_user_pgp_key(session, ada, armored)
    assert registered_pgp_keys(session, "ada@work.example") == [row.armored]
    assert remove_pgp_key(session, ada, row.id) == row.fingerprint
    assert registered_pgp_keys(session, "ada@work.example") == []


@pytest.mark.parametrize(
    "text, reason",
    [
        ("hello", "not an armored OpenPGP public key"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nxx", "secret key"),
        (
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n"
            "-----END PGP PUBLIC KEY BLOCK-----",
            "no usable OpenPGP public key",
        ),
    ],
)
def test_what_gpg_cannot_use_is_refused(session, text, reason):
    ada = create_user(session, "ada", "ada@example.org")
    with pytest.raises(KeyRefused, match=reason):
        add_user_pgp_key(session, ada, text)
