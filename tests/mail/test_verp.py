"""VERP envelope senders: encoding a subscriber into the bounce address and back."""

from __future__ import annotations

import pytest

from mail.verp import verp_address, verp_recipient

DOMAIN = "lists.example.org"


def test_address_folds_the_recipient_into_the_list_bounces_address():
    assert (
        verp_address("dev", "Alice@Example.org", DOMAIN)
        == "dev+bounces=Alice=example.org@lists.example.org"
    )


def test_recipient_decodes_the_local_part_as_intake_lower_cased_it():
    assert verp_recipient("dev+bounces=alice=example.org", "dev") == "alice@example.org"


def test_recipient_matches_the_prefix_in_any_case():
    assert verp_recipient("DEV+Bounces=Alice=Example.ORG", "dev") == "Alice@example.org"


@pytest.mark.parametrize(
    "recipient",
    [
        "alice@example.org",
        "alice+tag@example.org",
        "a=b@example.org",
        "a=b+c=d@mail.example.co.uk",
        "first.last@example.org",
        "o'brien@example.ie",
        "x!#$%&*/?^_`{|}~-@example.org",
        "user@xn--bcher-kva.example",
        "user@example.org.",
    ],
)
def test_recipient_round_trips(recipient):
    local = verp_address("dev", recipient, DOMAIN)
    assert local is not None and local.endswith("@" + DOMAIN)
    assert verp_recipient(local.rpartition("@")[0].lower(), "dev") == recipient.rstrip(".")


def test_list_names_with_dots_and_dashes_round_trip():
    local = verp_address("team.dev-ops", "bob@example.com", DOMAIN)
    assert local == "team.dev-ops+bounces=bob=example.com@lists.example.org"
    assert verp_recipient(local.rpartition("@")[0], "team.dev-ops") == "bob@example.com"


def test_equals_in_the_local_part_splits_at_the_last_equals():
    assert verp_recipient("dev+bounces=a=b=c=example.org", "dev") == "a=b=c@example.org"


@pytest.mark.parametrize(
    "recipient",
    [
        "no-at-sign",
        "",
        "@example.org",
        "alice@",
        '"john doe"@example.org',
        '"a@b"@example.org',
        "john doe@example.org",
        " alice@example.org",
        "alice@example.org\n",
        "alice@exa mple.org",
        "jürgen@example.de",
        "alice@exämple.de",
        "<alice@example.org>",
        "alice@[192.0.2.1]",
        "alice@exa=mple.org",
        "alice@example..org",
    ],
)
def test_address_is_none_for_recipients_that_cannot_be_encoded(recipient):
    assert verp_address("dev", recipient, DOMAIN) is None


@pytest.mark.parametrize(
    "local_part",
    [
        "dev",  # the posting address
        "dev+bounces",  # the plain bounces address
        "dev+bounces=",
        "dev+bounces=alice",  # no '=' for the domain
        "dev+bounces=alice=",  # empty domain
        "dev+bounces==example.org",  # empty local part
        "dev+subscribe",
        "devs+bounces=alice=example.org",  # another list
        "announce+bounces=alice=example.org",
        "de+bounces=alice=example.org",
        "dev+bounces=alice=exa mple.org",
        'dev+bounces="a b"=example.org',
        "dev+bounces=alice@x=example.org",
        "dev+bounces=jürgen=example.de",
    ],
)
def test_recipient_is_none_for_other_local_parts(local_part):
    assert verp_recipient(local_part, "dev") is None
