"""Posting policy as pure functions over parsed messages: no server, no database."""

from __future__ import annotations

import pytest

from archive.parse import parse_message
from lists.posting import ListTarget, judge_post
from mail.policy import Outcome, Reason, check_size
from tests.messages import alternative, html_only, make_message

DEV = ListTarget(list_id=1, name="dev", domain="lists.example.org")
LAX = ListTarget(
    list_id=2, name="lax", domain="lists.example.org", reject_html=False, require_list_address=False
)


def judge(raw: bytes, target: ListTarget = DEV):
    return judge_post(parse_message(raw), target)


def test_plain_text_post_to_the_list_is_accepted():
    assert judge(make_message()).accepted


@pytest.mark.parametrize(
    ("changes", "header"),
    [
        ({"from_": None}, "From"),
        ({"subject": "  "}, "Subject"),
        ({"message_id": None}, "Message-ID"),
    ],
)
def test_missing_header_is_refused_by_name(changes, header):
    decision = judge(make_message(**changes))
    assert (decision.outcome, decision.reason) == (Outcome.REJECT, Reason.MISSING_HEADER)
    assert header in decision.detail


def test_all_missing_headers_are_named_at_once():
    decision = judge(make_message(from_=None, subject=None, message_id=None))
    assert decision.detail == "missing or empty From, Subject, Message-ID headers"


def test_unusable_message_id_counts_as_missing():
    raw = make_message(message_id=None, extra=("Message-ID: <>",))
    assert judge(raw).reason is Reason.MISSING_HEADER
    # An id with a space is one public-inbox keeps, and so does Mailyard.
    spaced = make_message(message_id=None, extra=("Message-ID: <an id@x>",))
    assert judge(spaced).reason is not Reason.MISSING_HEADER


@pytest.mark.parametrize("build", [html_only, alternative])
def test_html_is_refused_unless_the_list_allows_it(build):
    assert judge(build()).reason is Reason.HTML
    assert judge(build(to="lax@lists.example.org"), LAX).accepted


def test_no_text_plain_part_is_refused():
    raw = make_message(content_type="image/png", body="iVBORw0KGgo=\r\n")
    assert judge(raw).reason is Reason.NO_PLAIN_TEXT


def test_list_address_must_be_in_to_or_cc_unless_the_list_waives_it():
    assert judge(make_message(to="bob@example.com")).reason is Reason.LIST_NOT_ADDRESSED
    assert judge(make_message(to="bob@example.com", cc="Dev@LISTS.example.org")).accepted
    assert judge(make_message(to="bob@example.com"), LAX).accepted


def test_robots_are_dropped_before_any_refusal_could_bounce_to_them():
    raw = make_message(subject=None, to="x@example.com", extra=("Auto-Submitted: auto-replied",))
    decision = judge(raw)
    assert (decision.outcome, decision.reason) == (Outcome.DROP, Reason.AUTO_SUBMITTED)


def test_own_list_id_is_a_loop_and_other_list_ids_are_not():
    looped = judge(make_message(extra=("List-Id: <dev.lists.example.org>",)))
    assert (looped.outcome, looped.reason) == (Outcome.DROP, Reason.LOOP)
    assert judge(make_message(extra=("List-Id: <dev.lists.example.net>",))).accepted
    assert judge(make_message(extra=("List-Id: <other.lists.example.org>",))).accepted


def test_size_limit():
    assert check_size(10, 10).accepted
    assert check_size(11, 10).reason is Reason.TOO_BIG
