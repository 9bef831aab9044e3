"""The routing table: which recipient addresses intake takes, and why it refuses others."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lists import addresses as list_kinds
from lists.posting import ListTarget
from mail.policy import Decision, Reason
from mailyard.wiring import ADDRESS_KINDS
from mta.routing import Route, split_address
from mta.routing import route as route_with_kinds


def route(session, settings, address, sender=None):
    return route_with_kinds(session, settings, ADDRESS_KINDS, address, sender)


def test_list_posting_address_routes_to_the_list(session, settings, lists):
    found = route(session, settings, "dev@lists.example.org")
    assert isinstance(found, Route)
    assert found.kind is list_kinds.POST
    assert found.target == ListTarget(lists["dev"], "dev", "lists.example.org")
    assert found.target.list_id_value == "dev.lists.example.org"


@pytest.mark.parametrize("address", ["DEV@LISTS.EXAMPLE.ORG", "<Dev@lists.example.org.>"])
def test_addresses_are_case_insensitive(session, settings, lists, address):
    found = route(session, settings, address)
    assert isinstance(found, Route) and found.target.list_id == lists["dev"]


@pytest.mark.parametrize(
    "address",
    [
        "nosuch@lists.example.org",
        "nosuch+subscribe@lists.example.org",
        "nosuch+bounces=a=example.org@lists.example.org",
        "dev",
        "",
    ],
)
def test_other_addresses_are_refused_as_unknown(session, settings, lists, address):
    found = route(session, settings, address)
    assert isinstance(found, Decision)
    assert found.reason is Reason.UNKNOWN_RECIPIENT
    assert "no such list here" in found.detail


def test_an_address_elsewhere_is_not_relayed_and_the_refusal_names_the_submission_port(
    session, settings, lists
):
    found = route(session, replace(settings, submission_listen="127.0.0.1:2587"), "a@example.org")
    assert isinstance(found, Decision) and found.reason is Reason.NOT_ALLOWED
    assert "not relayed" in found.detail and "submission port 127.0.0.1:2587" in found.detail
    found = route(session, replace(settings, submission_listen=""), "a@example.org")
    assert isinstance(found, Decision) and "it relays nothing" in found.detail


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("dev+subscribe@lists.example.org", list_kinds.COMMAND),
        ("Dev+Confirm-Unsubscribe@lists.example.org", list_kinds.COMMAND),
        ("dev+owner@lists.example.org", list_kinds.COMMAND),
        ("dev+bounces@lists.example.org", list_kinds.BOUNCES),
        ("dev+bounces=bob=example.net@lists.example.org", list_kinds.BOUNCES),
    ],
)
def test_command_and_bounce_addresses_of_a_list(session, settings, lists, address, kind):
    found = route(session, settings, address)
    assert isinstance(found, Route) and found.kind is kind
    assert found.target.list_id == lists["dev"]


def test_a_verp_address_names_the_subscriber(session, settings, lists):
    found = route(session, settings, "dev+bounces=Bob=Example.net@lists.example.org")
    assert found.target.recipient == "bob@example.net"


def test_an_unknown_sub_address_names_the_valid_ones(session, settings, lists):
    found = route(session, settings, "dev+subscibe@lists.example.org")
    assert isinstance(found, Decision) and found.reason is Reason.UNKNOWN_RECIPIENT
    assert "dev+subscribe@lists.example.org" in found.detail
    assert "dev+help@lists.example.org" in found.detail


def test_split_address():
    assert split_address("A.B@Example.ORG") == ("a.b", "example.org")
    assert split_address('"a@b"@example.org') == ('"a@b"', "example.org")
    assert split_address("nodomain") == ("nodomain", "")
