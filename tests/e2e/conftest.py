"""End-to-end fixtures: a running `mailyard serve` with one list, `dev`."""

from __future__ import annotations

import pytest

from tests.served import ServedMailyard


@pytest.fixture
def served(settings, broker_url):
    if broker_url:
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    server = ServedMailyard(settings)
    server.cli(
        "list",
        "create",
        "dev",
        "--owner",
        "owner@example.org",
        "--description",
        "Development of the thing",
    )
    server.start()
    yield server
    server.stop()
    if server.process and server.process.poll() is None:
        server.kill()
