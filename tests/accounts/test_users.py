"""Accounts and their addresses: sign-up, confirmation, extra addresses, primary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.access import actor_for_address
from accounts.models import User
from accounts.names import NameRefused
from accounts.passwords import PasswordRefused, check_password
from accounts.users import (
    AccountError,
    add_address,
    addresses_of,
    confirm_address,
    confirm_sign_up,
    create_user,
    find_user_for_login,
    list_users,
    primary_address_of,
    remove_address,
    set_admin,
    set_primary,
    sign_up,
)
from core.db import utcnow

PASSWORD = "a long enough password"


def test_sign_up_makes_an_unconfirmed_account_until_its_link_is_used(session):
    done = sign_up(session, "Ada", " Ada@Example.ORG ", PASSWORD)
    assert done.user.username == "ada" and done.user.confirmed_at is None
    assert done.pending.address == "Ada@example.org" and done.pending.confirmed_at is None
    assert check_password(done.user, PASSWORD)
    assert actor_for_address(session, "ada@example.org").user_id is None
    confirm_sign_up(session, done.user.id, done.pending.id)
    assert done.user.confirmed_at is not None
    assert actor_for_address(session, "ADA@example.org").user_id == done.user.id
    assert primary_address_of(session, done.user) == "Ada@example.org"
    assert confirm_sign_up(session, done.user.id, done.pending.id) is done.user  # idempotent


def test_signing_up_with_an_address_someone_confirmed_makes_nothing(session):
    ada = create_user(session, "ada", "ada@example.org")
    done = sign_up(session, "mallory", "ADA@example.org", PASSWORD)
    assert done.existing is ada and done.user is None
    assert session.scalar(select(User).where(User.username == "mallory")) is None


@pytest.mark.parametrize(
    "name, address, password, error, reason",
    [
        ("a", "a@example.org", PASSWORD, NameRefused, "invalid name"),
        ("admin", "a@example.org", PASSWORD, NameRefused, "reserved"),
        ("ada", "not an address", PASSWORD, AccountError, "invalid address"),
        ("ada", "a@example.org", "short", PasswordRefused, "at least 10"),
    ],
)
def test_bad_sign_ups_are_refused(session, name, address, password, error, reason):
    with pytest.raises(error, match=reason):
        sign_up(session, name, address, password)


def test_a_name_nobody_confirmed_is_given_back_after_two_days(session):
    first = sign_up(session, "ada", "ada@example.org", PASSWORD).user
    with pytest.raises(NameRefused, match="taken"):
        sign_up(session, "ada", "other@example.org", PASSWORD)
    first.created_at = utcnow() - timedelta(days=3)
    session.flush()
    again = sign_up(session, "ada", "other@example.org", PASSWORD)
    assert again.user is not first and again.pending.address == "other@example.org"
    session.expire_all()
    assert [a.address for a in addresses_of(session, again.user)] == ["other@example.org"]


def test_an_added_address_counts_once_confirmed(session):
    ada = create_user(session, "ada", "ada@example.org")
    row = add_address(session, ada, "ada@work.example")
    assert add_address(session, ada, "ADA@work.example").id == row.id  # asked again
    assert actor_for_address(session, "ada@work.example").user_id is None
    confirm_address(session, ada.id, row.id, row.address_key)
    actor = actor_for_address(session, "ada@work.example")
    assert actor.user_id == ada.id
    assert actor.addresses == {"ada@example.org", "ada@work.example"}
    with pytest.raises(AccountError, match="already one of your addresses"):
        add_address(session, ada, "ada@work.example")


def test_an_address_confirmed_elsewhere_cannot_be_confirmed_again(session):
    ada = create_user(session, "ada", "ada@example.org")
    row = add_address(session, ada, "shared@example.org")
    create_user(session, "bea", "shared@example.org")
    with pytest.raises(AccountError, match="another account"):
        confirm_address(session, ada.id, row.id, row.address_key)


def test_primary_and_removal_keep_one_confirmed_address(session):
    ada = create_user(session, "ada", "ada@example.org")
    first = addresses_of(session, ada)[0]
    with pytest.raises(AccountError, match="only confirmed address"):
        remove_address(session, ada, first.id)
    extra = add_address(session, ada, "ada@work.example")
    with pytest.raises(AccountError, match="confirm ada@work.example before"):
        set_primary(session, ada, extra.id)
    confirm_address(session, ada.id, extra.id, extra.address_key)
    set_primary(session, ada, extra.id)
    assert primary_address_of(session, ada) == "ada@work.example"
    assert remove_address(session, ada, extra.id) == "ada@work.example"
    assert primary_address_of(session, ada) == "ada@example.org"
    bea = create_user(session, "bea", "bea@example.org")
    with pytest.raises(AccountError, match="no such address"):
        remove_address(session, bea, first.id)


def test_sign_in_names_a_user_by_name_or_confirmed_address(session):
    ada = create_user(session, "ada", "ada@example.org", password=PASSWORD)
    pending = add_address(session, ada, "ada@work.example")
    assert find_user_for_login(session, "~Ada") is ada
    assert find_user_for_login(session, "ADA@example.org") is ada
    assert find_user_for_login(session, pending.address) is None
    assert find_user_for_login(session, "nobody") is None


def test_admins_and_the_listing(session):
    create_user(session, "bea", "bea@example.org")
    create_user(session, "ada", "ada@example.org", is_admin=True)
    set_admin(session, "BEA", True)
    set_admin(session, "ada", False)
    rows = [(u.username, address, u.is_admin) for u, address in list_users(session)]
    assert rows == [("ada", "ada@example.org", False), ("bea", "bea@example.org", True)]
    with pytest.raises(AccountError, match="no user named 'zed'"):
        set_admin(session, "zed", True)
