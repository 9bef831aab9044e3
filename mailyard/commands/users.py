"""`mailyard user ...`: accounts from the command line."""

from __future__ import annotations

from datetime import timedelta

import click

from accounts.tokens import DEFAULT_LIFETIME_DAYS, LIFETIMES_DAYS, create_token
from accounts.users import (
    AccountError,
    create_user,
    find_user,
    list_users,
    primary_address_of,
    set_admin,
)
from core.db import session_scope
from mailyard.commands import ready_database


@click.group(name="user")
def user_group() -> None:
    """Create and list accounts, and make admins."""


@user_group.command(name="create")
@click.argument("username")
@click.argument("address")
@click.option("--admin", is_flag=True, help="Make the user a site admin.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
def user_create(username: str, address: str, admin: bool, password_stdin: bool) -> None:
    """Create the account USERNAME with ADDRESS, both confirmed at once: you vouch for
    the address. Without a password, the user sets one with a reset (/account/reset)."""
    password = None
    if password_stdin:
        # open_file("-") is the same text stdin as get_text_stream("stdin"), which Click 8.5
        # deprecates (and serves untyped).
        password = click.open_file("-").readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("--password-stdin: no password on standard input")
    ready_database()
    with session_scope() as session:
        user = create_user(session, username, address, password=password, is_admin=admin)
        how = "with a password" if password else "no password yet: set one at /account/reset"
        role = ", admin" if user.is_admin else ""
        primary = primary_address_of(session, user)
        click.echo(f"created ~{user.username} <{primary}>{role} ({how})")


@user_group.command(name="ls")
def user_ls() -> None:
    """Show every account: username, primary address, admin, confirmed."""
    ready_database()
    with session_scope() as session:
        rows = list_users(session)
        if not rows:
            click.echo("no users yet: create one with `mailyard user create USERNAME ADDRESS`")
        for user, address in rows:
            admin = "admin" if user.is_admin else "-"
            confirmed = "confirmed" if user.confirmed_at else "unconfirmed"
            click.echo(f"{user.username}\t{address or '-'}\t{admin}\t{confirmed}")


@user_group.command(name="admin")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Take the admin right away instead.")
def user_admin(username: str, revoke: bool) -> None:
    """Make USERNAME a site admin (every right on every list and tracker)."""
    ready_database()
    with session_scope() as session:
        user = set_admin(session, username, not revoke)
        click.echo(f"~{user.username} is {'no longer ' if revoke else ''}an admin")


@user_group.command(name="token")
@click.argument("username")
@click.option("--name", default="smtp", show_default=True, help="What the token is for.")
@click.option(
    "--days",
    type=click.Choice([str(d) for d in LIFETIMES_DAYS]),
    default=str(DEFAULT_LIFETIME_DAYS),
    show_default=True,
    help="How long the token works.",
)
def user_token(username: str, name: str, days: str) -> None:
    """Make an API token for USERNAME and print it (shown this once): the password for
    the submission port (`git config sendemail.smtpPass`) and the API's bearer token."""
    ready_database()
    with session_scope() as session:
        user = find_user(session, username.removeprefix("~"))
        if user is None:
            raise AccountError(f"no user ~{username.removeprefix('~')}")
        _, plaintext = create_token(session, user, name, timedelta(days=int(days)))
    click.echo(plaintext)
