"""Choosing a DMARC mitigation from the author's published policy, read from the local
DNS table (the autouse `dns_table` fixture)."""

from __future__ import annotations

import pytest

from lists.dmarc import (
    DmarcMode,
    dmarc_policy,
    mitigation_for,
    organizational_domain,
    parse_dmarc_record,
)
from lists.list_copy import Mitigation
from mail.dns import LocalKeyTable

# -- reading one record ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "policy"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@example.com", "reject"),
        ("v=DMARC1;p=quarantine", "quarantine"),
        ("v=DMARC1; p=none;", "none"),
        ("V=DMARC1; P=Reject; SP=none", "reject"),
        ("  v = DMARC1 ;  p = QUARANTINE ; pct=50 ", "quarantine"),
    ],
)
def test_dmarc_record_gives_its_policy(record, policy):
    assert parse_dmarc_record(record) == policy


@pytest.mark.parametrize(
    "record",
    [
        "",
        "v=spf1 -all",
        "p=reject; v=DMARC1",  # v must come first
        "v=DMARC2; p=reject",
        "v=DMARC1; p=block",
        "v=DMARC1",
        "v=DMARC1; p=reject; garbage",
        "v=DMARC1; =reject",
    ],
)
def test_what_is_no_usable_dmarc_record_gives_none(record):
    assert parse_dmarc_record(record) is None


def test_record_without_valid_policy_but_asking_for_reports_counts_as_none():
    assert parse_dmarc_record("v=DMARC1; p=bogus; rua=mailto:d@example.com") == "none"


# -- finding the record ----------------------------------------------------------------


def test_policy_published_at_the_author_domain(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    assert dmarc_policy("example.com") == "reject"
    assert dmarc_policy("EXAMPLE.com.") == "reject"


def test_domain_without_a_record_has_no_policy():
    assert dmarc_policy("example.com") is None
    assert dmarc_policy("") is None


def test_subdomain_uses_the_organizational_domain_sp(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=none; sp=reject")
    assert dmarc_policy("mail.example.com") == "reject"
    assert dmarc_policy("example.com") == "none"  # sp= is for subdomains only


def test_subdomain_uses_the_organizational_domain_p_without_sp(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=quarantine")
    assert dmarc_policy("a.b.example.com") == "quarantine"


def test_subdomain_with_invalid_sp_falls_back_to_p(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject; sp=sometimes")
    assert dmarc_policy("mail.example.com") == "reject"


def test_own_record_wins_over_the_organizational_domain(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    dns_table.add("_dmarc.lists.example.com", "v=DMARC1; p=none")
    assert dmarc_policy("lists.example.com") == "none"


def test_country_second_level_domains_are_not_organizational(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.co.uk", "v=DMARC1; p=reject")
    dns_table.add("_dmarc.example.co.uk", "v=DMARC1; p=quarantine")
    assert dmarc_policy("mail.example.co.uk") == "quarantine"
    assert dmarc_policy("mail.other.co.uk") is None


def test_two_dmarc_records_mean_no_policy(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=none")
    assert dmarc_policy("example.com") is None


def test_two_records_at_the_author_domain_stop_the_search(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.mail.example.com", "v=DMARC1; p=reject")
    dns_table.add("_dmarc.mail.example.com", "v=DMARC1; p=quarantine")
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    assert dmarc_policy("mail.example.com") is None


def test_garbage_dmarc_record_means_no_policy(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.mail.example.com", "v=DMARC1; p=reject; oops")
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    assert dmarc_policy("mail.example.com") is None


def test_other_txt_records_beside_the_dmarc_one_are_ignored(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.example.com", "google-site-verification=abc")
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=quarantine")
    assert dmarc_policy("example.com") == "quarantine"


def test_only_other_txt_records_look_further_up(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.mail.example.com", "not dmarc at all")
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    assert dmarc_policy("mail.example.com") == "reject"


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("example.com", "example.com"),
        ("a.b.example.com", "example.com"),
        ("mail.example.co.uk", "example.co.uk"),
        ("x.example.com.au", "example.com.au"),
        ("x.example.ac.jp", "example.ac.jp"),
        ("mail.example.co", "example.co"),
        ("www.example.co.london", "co.london"),  # three labels only under 2-letter TLDs
        ("localhost", "localhost"),
        ("Mail.Example.ORG.", "example.org"),
    ],
)
def test_organizational_domain_is_guessed_without_a_suffix_list(domain, org):
    assert organizational_domain(domain) == org


# -- the list's choice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "mitigation"),
    [
        (DmarcMode.none, Mitigation.none),
        (DmarcMode.munge_from, Mitigation.munge_from),
        (DmarcMode.wrap, Mitigation.wrap),
    ],
)
def test_fixed_modes_ignore_the_author_policy(dns_table: LocalKeyTable, mode, mitigation):
    dns_table.add("_dmarc.example.com", "v=DMARC1; p=reject")
    assert mitigation_for(mode, "example.com") is mitigation
    assert mitigation_for(mode, "open.example.net") is mitigation


@pytest.mark.parametrize(
    ("record", "mitigation"),
    [
        ("v=DMARC1; p=reject", Mitigation.munge_from),
        ("v=DMARC1; p=quarantine", Mitigation.munge_from),
        ("v=DMARC1; p=none", Mitigation.none),
        (None, Mitigation.none),
    ],
)
def test_auto_munges_only_for_authors_whose_domain_refuses(
    dns_table: LocalKeyTable, record, mitigation
):
    if record:
        dns_table.add("_dmarc.example.com", record)
    assert mitigation_for(DmarcMode.auto, "example.com") is mitigation
    assert mitigation_for(DmarcMode.auto, "mail.example.com") is mitigation


def test_auto_without_an_author_domain_does_nothing(dns_table: LocalKeyTable):
    dns_table.add("_dmarc.com", "v=DMARC1; p=reject")
    assert mitigation_for(DmarcMode.auto, "") is Mitigation.none
    assert mitigation_for(DmarcMode.auto, "  ") is Mitigation.none


def test_modes_are_stored_by_name():
    assert {m.name for m in DmarcMode} == {"none", "munge_from", "wrap", "auto"}
    assert DmarcMode("auto") is DmarcMode.auto
