"""The intake fixtures of tests/intake.py (local DNS with a DKIM key, running servers), for the
tests that open and triage tickets over real SMTP."""

from tests.intake import dns_table, lists, publish, rsa_key, start_servers  # noqa: F401
