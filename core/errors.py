"""The one base class of every refusal a user can cause.

A refusal (`ListError`, `KeyRefused`, `StatusRefused`...) says in its message what was
wrong, in words for the person who caused it. Deriving from `UserError` is what lets each
face have one handler: the CLI prints the message as one line, the web answers 400 with
it, the JSON API an error object. Anything else that escapes is a bug.
"""

from __future__ import annotations


class UserError(ValueError):
    """A request that cannot be done as asked; the message says why, for a person."""
