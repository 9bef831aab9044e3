"""The local DNS zone with a DKIM key (`tests/intake.py`), for who a mail acts as."""

from tests.intake import dns_table, publish, rsa_key  # noqa: F401
