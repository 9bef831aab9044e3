"""Intake fixtures: lists to post to, a local DNS zone, and real running servers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from archive.lists import create_list
from mta.dns import LocalKeyTable, set_txt_resolver
from mta.server import IntakeServers, start_intake


@pytest.fixture(autouse=True)
def dns_table() -> Iterator[LocalKeyTable]:
    """No test in here asks real DNS: every TXT lookup reads this table."""
    table = LocalKeyTable()
    previous = set_txt_resolver(table)
    yield table
    set_txt_resolver(previous)


@pytest.fixture
def lists(session) -> dict[str, int]:
    """Two lists, `dev` (SourceHut defaults) and `announce` (HTML allowed)."""
    dev = create_list(session, "dev", "owner@example.com")
    announce = create_list(session, "announce", "owner@example.com")
    announce.reject_html = False
    session.commit()
    return {"dev": dev.id, "announce": announce.id}


@pytest.fixture
def start_servers(settings, lists) -> Iterator[Callable[..., IntakeServers]]:
    """Start intake on free ports with some settings changed; stopped after the test."""
    started: list[IntakeServers] = []

    def start(**changes) -> IntakeServers:
        changes.setdefault("smtp_listen", "127.0.0.1:0")
        changes.setdefault("lmtp_listen", "127.0.0.1:0")
        servers = start_intake(dataclasses.replace(settings, **changes))
        started.append(servers)
        return servers

    yield start
    for servers in started:
        servers.stop()


@pytest.fixture
def intake(start_servers) -> IntakeServers:
    return start_servers()
