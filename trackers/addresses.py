"""The addresses a tracker answers at, declared once (`mail.address_kinds`).

    TRACKER@                       opens a ticket
    TRACKER+N@                     comments on ticket N
    TRACKER[+N]+subscribe@ ...     follows the tracker (or ticket N), by confirmation

Lists and trackers share one space of names; `mailyard/wiring.py` tries the lists' kinds
first, whose targets are None for a name that is no list. A private tracker does not
exist for a sender who may not see it: its addresses are refused to them as unknown ones,
at RCPT and again at DATA by the From (`trackers.mail`), as the lists' are.
"""

from __future__ import annotations

import re

from mail.address_kinds import AddressKind
from trackers.mail import (
    FOLLOW_COMMANDS,
    find_tracker_target,
    handle_tracker_mail,
    judge_tracker_mail,
    judge_tracker_rights,
    screen_tracker_strangers,
)

# The same alphabet as list names (`lists.manage.LIST_NAME`).
NAME = r"(?P<name>[a-z0-9][a-z0-9._-]{0,63})"

TRACKER = AddressKind(
    "tracker",
    re.compile(
        NAME
        + r"(?:\+(?P<number>[0-9]{1,9}))?"
        + r"(?:\+(?P<command>"
        + "|".join(FOLLOW_COMMANDS)
        + r"))?"
    ),
    find_target=find_tracker_target,
    judge=judge_tracker_mail,
    screen=screen_tracker_strangers,
    judge_rights=judge_tracker_rights,
    handle=handle_tracker_mail,
)

ADDRESS_KINDS = (TRACKER,)
