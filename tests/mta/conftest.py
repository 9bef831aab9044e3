"""The intake fixtures (lists, local DNS with a DKIM key, servers), for the SMTP face."""

from tests.intake import dns_table, intake, lists, publish, rsa_key, start_servers  # noqa: F401
