"""The intake fixtures of tests/mta (lists, local DNS with a DKIM key, servers), for the
tests that send patches and status requests over real SMTP."""

from tests.mta.conftest import dns_table, lists, publish, rsa_key, start_servers  # noqa: F401
