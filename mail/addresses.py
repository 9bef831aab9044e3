"""Addresses: normalizing what people type, and the addresses of a list or tracker.

A list or a tracker called NAME answers at NAME@DOMAIN and at sub-addresses
NAME+WHAT@DOMAIN (commands, bounces, a ticket: NAME+12@), and its mail carries the List-Id
NAME.DOMAIN (RFC 2919). `ListAddresses` is the one place those are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from core.errors import UserError
from core.settings import Settings


class AddressRefused(UserError):
    """Not an address mail can be sent to; the message says why."""


def normalize_address(address: str, error: type[UserError] = AddressRefused) -> str:
    """The address as email-validator normalizes it (the domain lower-cased, IDNA), or
    `error` saying what is wrong with it."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise error(f"invalid address {address.strip()!r}: {e}") from None


def address_key(address: str) -> str:
    """The form addresses are matched by: trimmed and lower-cased."""
    return address.strip().lower()


@dataclass(frozen=True)
class ListAddresses:
    """The addresses of the list or tracker `name` at `domain` (lower-cased)."""

    name: str
    domain: str

    @property
    def posting(self) -> str:
        """NAME@DOMAIN."""
        return f"{self.name}@{self.domain}"

    def at(self, *parts: str | int | None) -> str:
        """NAME+PART+PART@DOMAIN, leaving out empty parts: `at("subscribe")`, `at(12)`,
        `at(12, "unsubscribe")`; `at()` is the posting address."""
        local = "+".join([self.name, *(str(p) for p in parts if p)])
        return f"{local}@{self.domain}"

    @property
    def bounces(self) -> str:
        """Where bounces of its mail come back (the envelope sender of what it sends)."""
        return self.at("bounces")

    @property
    def owner(self) -> str:
        return self.at("owner")

    @property
    def list_id(self) -> str:
        """The List-Id (RFC 2919) without its angle brackets: NAME.DOMAIN."""
        return f"{self.name}.{self.domain}"

    @property
    def list_id_header(self) -> str:
        """The List-Id header's value: <NAME.DOMAIN>."""
        return f"<{self.list_id}>"


def list_addresses(name: str, domain: str) -> ListAddresses:
    """The addresses of `name` at `domain` (the settings' domain, any case)."""
    return ListAddresses(name, domain.lower())


def split_address(address: str) -> tuple[str, str]:
    """('local', 'domain') lower-cased; the domain is '' when there is no '@'."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not local:
        return domain.lower(), ""
    return local.lower(), domain.lower().rstrip(".")


def is_local(settings: Settings, domain: str) -> bool:
    """Whether `domain` (from `split_address`) is the one this server takes mail for."""
    return domain == settings.domain.lower()
