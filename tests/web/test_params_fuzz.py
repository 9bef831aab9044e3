"""Hostile values in every path segment and query parameter of every route never make a
500. The routes are read from the app's url_map, so a new route is swept as soon as it
exists; ids in paths answer 404 naming what was asked for, numeric parameters 400 naming
the parameter. Positive control: each route, with ordinary values, answers below 500
too, and at least some of them 200 (so the sweep reaches real pages)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailyard.wiring import BLUEPRINTS
from repos import storage
from repos.repositories import create_repository
from tests.accounts.helpers import CSRF_TOKEN, make_user, sign_in_user
from tests.repos.browse_fixture import fill_repository
from trackers.tickets import Origin, create_tracker, open_ticket
from web.app import create_app
from web.context import IdConverter

HOSTILE = [
    "99999999999999999999",
    str(2**63),
    str(2**63 - 1),
    "-5",
    "0",
    "abc",
    "a\nb",
    "\r\n",
    "\t",
    "\u00b2",
    "\u0661\u0662",
    "\u00e9\u202e",
    "\ud7ff\ufffd",
    "x" * 3000,
    "%",
    "..",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59-14:00,1",
    "d:99991231..99991231",
    "d:.. NOT (",
    "x:foo",
    '"',
    "/\t/evil.example",
]
# What the sweeps send everywhere (the random test also draws from all of HOSTILE).
SWEPT = [
    "99999999999999999999",
    "-5",
    "abc",
    "a\nb",
    "\u00b2",
    "\u00e9\u202e",
    "x" * 3000,
    "9999-12-31T23:59:59-14:00,1",
    "d:.. NOT (",
    "/\t/evil.example",
]
# Every query parameter a view reads (the sweep sends each with every hostile value).
PARAMETERS = [
    "q",
    "t",
    "i",
    "o",
    "x",
    "before",
    "after",
    "page",
    "status",
    "next",
    "done",
    "submitter",
    "tag",
    "label",
    "assignee",
    "title",
    "description",
    "service",
]
# A repository's pages (`web.repos`) on the `world`'s repository.
REPO_ORDINARY = {"repo": "widget", "ref": "main", "path": "README.md", "sha": "0123abcd"}
_ARGUMENT = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>")


@pytest.fixture
def world(seed, session, settings):
    dev = seed.make_list("dev")
    seed.post(dev, "one@example.com", "a thread")
    tracker = create_tracker(session, "bugs", "owner@example.com")
    open_ticket(session, tracker, "Crash", "It crashes.\n", Origin(address="ada@example.com"))
    session.commit()
    ada = make_user(session, "ada", "ada@example.com", admin=True)
    # A repository with history, so hostile refs, paths and ids reach its pages' code.
    widget = create_repository(session, settings, ada, "widget")
    session.commit()
    fill_repository(storage.path_of(settings, widget))
    return ada


@pytest.fixture
def web(relay_settings, world):
    app = create_app(relay_settings, BLUEPRINTS)
    app.testing = True
    client = app.test_client()
    sign_in_user(client, world)
    return app, client


def _routes(app, methods: set[str]):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not (rule.methods or set()) & methods:
            continue
        yield rule


def _ordinary(rule, argument: str) -> str:
    converter = rule._converters[argument]
    if isinstance(converter, IdConverter):
        return "1"
    kind = type(converter).__name__
    if kind == "MessagePathConverter":
        return "one@example.com/"
    if kind == "PathConverter":
        return "style.css"
    if argument in ("owner", "username"):
        return "ada"
    if argument in REPO_ORDINARY:
        return REPO_ORDINARY[argument]
    if argument == "name":
        return "bugs" if "/tickets" in rule.rule else "dev"
    return "widget" if argument == "project" else "some-token"


def _url(rule, values: dict[str, str]) -> str:
    def fill(m: re.Match) -> str:
        value = values[m.group(2)]
        return quote(value, safe="/@" if m.group(1) == "msgpath" else "@")

    return _ARGUMENT.sub(fill, rule.rule)


def _request(client, method: str, url: str, query: dict[str, str] | None = None):
    if method == "GET":
        return client.get(url, query_string=query)
    return client.post(url, query_string=query, data={"csrf_token": CSRF_TOKEN})


def _check(response, what: str) -> str:
    assert response.status_code < 500, (what, response.status_code)
    return unescape(response.get_data().decode("utf-8", "replace"))  # some are gzip


def test_every_route_with_ordinary_values_answers(web):
    app, client = web
    ok = 0
    for rule in _routes(app, {"GET"}):
        url = _url(rule, {a: _ordinary(rule, a) for a in rule.arguments})
        ok += _request(client, "GET", url).status_code == 200
        _check(_request(client, "GET", url), url)
    assert ok >= 20, ok  # the sweep below reaches real pages, not only 404s


def test_hostile_path_segments_never_500_and_ids_are_404_naming_them(web):
    app, client = web
    for rule in _routes(app, {"GET", "POST"}):
        method = "GET" if "GET" in (rule.methods or set()) else "POST"
        for argument in rule.arguments:
            converter = rule._converters[argument]
            for value in SWEPT:
                values = {a: _ordinary(rule, a) for a in rule.arguments}
                values[argument] = value
                url = _url(rule, values)
                text = _check(_request(client, method, url), (method, url))
                # (2^63-1 is an id, of no row here; a '/' makes other segments.)
                if (
                    isinstance(converter, IdConverter)
                    and value != str(2**63 - 1)
                    and "/" not in value
                ):
                    assert f"There is no {converter.what}" in text, (method, url)


def test_hostile_query_parameters_never_500(web):
    app, client = web
    rules = list(_routes(app, {"GET"}))
    for rule in rules:
        url = _url(rule, {a: _ordinary(rule, a) for a in rule.arguments})
        for value in SWEPT:
            # Every parameter at once, one request per value (one by one: below).
            _check(_request(client, "GET", url, {p: value for p in PARAMETERS}), (url, value))
    search = "/dev/"
    for value in HOSTILE:
        _check(_request(client, "POST", search, {"q": value, "x": "m"}), ("POST", value))
        _check(_request(client, "POST", "/all/", {"q": value, "x": "m", "t": "1"}), value)


NUMERIC_PARAMETERS = [
    ("/dev/", "i"),
    ("/dev/", "o"),
    ("/all/", "o"),
    ("/dev/one@example.com/T/", "o"),
    ("/dev/one@example.com/t/", "o"),
    ("/dev/moderation", "after"),
    ("/dev/members", "after"),
    ("/bugs/tickets/1/", "after"),
    ("/dev/patches", "before"),
]


def test_numeric_parameters_are_refused_by_name(web):
    _, client = web
    for path, parameter in NUMERIC_PARAMETERS:
        for value in ["99999999999999999999", "-5", "abc", "\u00b2", "1_000", "x" * 3000]:
            query = {parameter: value}
            if parameter == "i":
                query["t"] = "20260301000000"
            if parameter == "o" and path in ("/dev/", "/all/"):
                query["q"] = "thread"
            response = client.get(path, query_string=query)
            assert response.status_code == 400, (path, parameter, value, response.status_code)
            assert f"?{parameter}=" in unescape(response.get_data(as_text=True))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    parameter=st.sampled_from(PARAMETERS),
    value=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40)),
)
def test_random_values_in_one_parameter_never_500(web, data, parameter, value):
    app, client = web
    rule = data.draw(st.sampled_from(sorted(_routes(app, {"GET"}), key=lambda r: r.rule)))
    url = _url(rule, {a: _ordinary(rule, a) for a in rule.arguments})
    _check(_request(client, "GET", url, {parameter: value}), (url, parameter, value))
