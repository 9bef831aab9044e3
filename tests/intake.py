"""Intake fixtures: lists to post to, a local DNS zone with a real DKIM key, and real
running servers. The conftests of the tests that send real mail import them."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim as dkimpy
import pytest
from dkim.dknewkey import OPENSSL_BINARY, ExtractRSADnsPublicKey, GenRSAKeys

from lists.manage import create_list
from mail.dns import LocalKeyTable, set_txt_resolver
from mailyard.wiring import ADDRESS_KINDS
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
        servers = start_intake(dataclasses.replace(settings, **changes), ADDRESS_KINDS)
        started.append(servers)
        return servers

    yield start
    for servers in started:
        servers.stop()


@pytest.fixture
def intake(start_servers) -> IntakeServers:
    return start_servers()


SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory) -> tuple[bytes, str]:
    """(private key PEM, DNS record) made by dkimpy's own key tool (which runs openssl)."""
    if not Path(OPENSSL_BINARY).exists() and not shutil.which("openssl"):
        pytest.skip("openssl is needed to generate a DKIM key pair")
    folder = tmp_path_factory.mktemp("dkim")
    GenRSAKeys(str(folder / "key.pem"), verbose=False)
    ExtractRSADnsPublicKey(str(folder / "key.pem"), str(folder / "key.dns"), verbose=False)
    return (folder / "key.pem").read_bytes(), (folder / "key.dns").read_text()


@pytest.fixture
def publish(dns_table: LocalKeyTable, rsa_key):
    """Publish the key for a domain under selector `sel`."""

    def publish_for(domain: str) -> None:
        dns_table.add_dkim_key("sel", domain, rsa_key[1])

    return publish_for


def sign(raw: bytes, domain: str, private_key: bytes) -> bytes:
    signature = dkimpy.sign(
        raw, b"sel", domain.encode(), private_key, include_headers=SIGNED_HEADERS
    )
    return signature + raw
