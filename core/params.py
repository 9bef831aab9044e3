"""Numbers that arrive as text, from a URL, a form or the command line: row ids, keyset
cursors (a time and an id), offsets and page numbers, read by one parser.

Every face uses it (`web.context` for paths and parameters, `mailyard.commands` for the
CLI's arguments), so the same text is the same number, or the same refusal, everywhere.
It takes ASCII digits only (Python's `int()` also reads '١٢', '1_000', ' +3 ' and
'²'.isdigit() is true although `int('²')` fails) and nothing beyond what the database's
BIGINT holds: SQLite raises OverflowError past 2^63-1 and PostgreSQL refuses it, so a
larger number can name no row. A refusal is a `ParameterError`, a `UserError` that
names the parameter: a 400 on the web, one line from the CLI.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from core.errors import UserError

ID_MAX = 2**63 - 1  # the largest BIGINT, and so the largest row id
TICKET_NUMBER_MAX = 2**31 - 1  # ticket numbers are INTEGER
_DIGITS = re.compile(r"[0-9]+")
_SHOWN_MAX = 40  # characters of a refused value quoted back


class ParameterError(UserError):
    """A parameter's value is not one it can take; the message names the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def shown(value: str) -> str:
    """`value` as a refusal quotes it back: escaped, and cut when long."""
    if len(value) > _SHOWN_MAX:
        return repr(value[:_SHOWN_MAX]) + "..."
    return repr(value)


def parse_int(name: str, value: str, *, minimum: int = 0, maximum: int = ID_MAX) -> int:
    """The whole number `value` writes, if it is from `minimum` to `maximum`; else a
    ParameterError naming `name`."""
    text = value.strip()
    if not _DIGITS.fullmatch(text):
        raise ParameterError(
            name,
            f"{name} must be a whole number from {minimum} to {maximum}, not {shown(value)}",
        )
    # More digits than `maximum` has is out of range: no need to build a huge int (and
    # Python refuses to read one of over 4,300 digits).
    number = int(text) if len(text.lstrip("0")) <= len(str(maximum)) else maximum + 1
    if not minimum <= number <= maximum:
        raise ParameterError(name, f"{name} must be from {minimum} to {maximum}, not {shown(text)}")
    return number


def parse_id(name: str, value: str, maximum: int = ID_MAX) -> int:
    """A row id (or a ticket number, with its `maximum`): 1 and up."""
    return parse_int(name, value, minimum=1, maximum=maximum)


def parse_optional_int(
    name: str, value: str | None, *, minimum: int = 0, maximum: int = ID_MAX
) -> int | None:
    """As `parse_int`, with None for a parameter that is absent or empty."""
    if value is None or not value.strip():
        return None
    return parse_int(name, value, minimum=minimum, maximum=maximum)


_PI_STAMP = re.compile(r"\d{14}")


def parse_time(name: str, value: str) -> datetime:
    """A moment in a cursor: ISO 8601 (a ' ' standing for the '+' a URL decodes to a
    space) or public-inbox's YYYYMMDDhhmmss; UTC when no zone is given. Returned in UTC;
    a moment UTC cannot hold (9999-12-31T23:59:59-14:00) is refused, not an OverflowError."""
    text = value.strip()
    try:
        if _PI_STAMP.fullmatch(text):
            when = datetime.strptime(text, "%Y%m%d%H%M%S")
        else:
            when = datetime.fromisoformat(text.replace(" ", "+"))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except ValueError:
        raise ParameterError(
            name, f"{name} must be a time (YYYYMMDDhhmmss or ISO 8601), not {shown(value)}"
        ) from None
    except OverflowError:  # its UTC would be in the year 10000
        raise ParameterError(
            name, f"{name} is {shown(value)}, later than any time this site can hold"
        ) from None


def parse_keyset(name: str, value: str, maximum: int = ID_MAX) -> tuple[datetime, int]:
    """A 'TIME,ID' cursor, as an 'older' link writes it: the last row shown."""
    when, comma, row_id = value.strip().rpartition(",")
    if not comma:
        raise ParameterError(name, f"{name} must be TIME,ID, not {shown(value)}")
    return parse_time(name, when), parse_id(name, row_id, maximum)
