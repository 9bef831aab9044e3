"""The intake fixtures of tests/intake.py (lists, local DNS with a DKIM key, servers), for the
tests that send patches and status requests over real SMTP."""

from tests.intake import dns_table, lists, publish, rsa_key, start_servers  # noqa: F401
