"""What every domain uses to send and trust mail: composition, the outbox and relay,
DKIM, PGP, DNS, bounces, confirmations."""
