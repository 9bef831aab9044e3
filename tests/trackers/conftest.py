"""The intake fixtures of tests/mta (local DNS with a DKIM key, running servers), for the
tests that open and triage tickets over real SMTP."""

from tests.mta.conftest import dns_table, lists, publish, rsa_key, start_servers  # noqa: F401
