"""`mailyard list` and `mailyard dkim`: lists, their members and how they send mail."""

from __future__ import annotations

import os
from pathlib import Path

import click

from accounts.models import Group
from archive.lists import list_summaries
from core.db import session_scope
from core.params import parse_int
from core.settings import get_settings
from lists.access import list_access_entries
from lists.manage import (
    MODERATION_DAYS_MAX,
    UNCHANGED,
    change_list_settings,
    create_list,
    find_group,
    grant_list_access,
    revoke_list_access,
)
from lists.membership import list_delivery, members_page, subscribe, unsubscribe
from lists.models import DeliveryMode
from mail.addresses import list_addresses
from mail.dkim_sign import dns_record, dns_record_name, generate_key
from mailyard.commands import OPERATOR_ACTOR, existing_list, ready_database
from patchsets.repositories import (
    RepositoryLinkError,
    link_named,
    repository_links,
    unlink_named,
)


@click.group(name="list")
def list_group() -> None:
    """Create and show mailing lists."""


@list_group.command(name="create")
@click.argument("name")
@click.option("--owner", required=True, help="The list owner's email address.")
@click.option("--description", default="", help="One line shown on the web.")
def list_create(name: str, owner: str, description: str) -> None:
    """Create list NAME, reachable at NAME@DOMAIN and /NAME/ on the web."""
    ready_database()
    with session_scope() as session:
        mlist = create_list(session, name, owner, description)
        posting = list_addresses(mlist.name, get_settings().domain).posting
        click.echo(f"created {mlist.name}: post to {posting}")


@list_group.command(name="ls")
def list_ls() -> None:
    """Show every list with its visibility, thread count and last activity."""
    ready_database()
    domain = get_settings().domain
    with session_scope() as session:
        rows = list_summaries(session)
        if not rows:
            click.echo("no lists yet: create one with `mailyard list create NAME --owner EMAIL`")
        for mlist, threads, last in rows:
            when = last.strftime("%Y-%m-%d %H:%M") if last else "-"
            posting = list_addresses(mlist.name, domain).posting
            click.echo(
                f"{posting}\t{mlist.visibility}\t{threads} threads\tlast {when}"
                f"\t{mlist.description}"
            )


@list_group.command(name="subscribe")
@click.argument("list_name", metavar="LIST")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--digest/--each", default=None, help="Daily digest, or every post (default).")
@click.option("--copy-self/--no-copy-self", default=None, help="Receive own posts (default).")
def list_subscribe(
    list_name: str, addresses: tuple[str, ...], digest: bool | None, copy_self: bool | None
) -> None:
    """Subscribe ADDRESSES to LIST without asking them to confirm, or change their options."""
    delivery = None if digest is None else DeliveryMode.digest if digest else DeliveryMode.each
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        for address in addresses:
            sub = subscribe(session, mlist.id, address, delivery=delivery, copy_self=copy_self)
            click.echo(f"{sub.address}\t{sub.delivery.value}\tsubscribed to {mlist.name}")


@list_group.command(name="unsubscribe")
@click.argument("list_name", metavar="LIST")
@click.argument("addresses", nargs=-1, required=True)
def list_unsubscribe(list_name: str, addresses: tuple[str, ...]) -> None:
    """Unsubscribe ADDRESSES from LIST."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        for address in addresses:
            done = unsubscribe(session, mlist.id, address)
            click.echo(f"{address}\t" + ("unsubscribed" if done else "was not subscribed"))


@list_group.command(name="members")
@click.argument("list_name", metavar="LIST")
def list_members(list_name: str) -> None:
    """Show LIST's subscribers: address, status, delivery, bounce score."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        after = 0
        while True:
            page = members_page(session, mlist.id, after_id=after, limit=500)
            for sub in page.members:
                self_copy = "copy-self" if sub.copy_self else "no-copy-self"
                click.echo(
                    f"{sub.address}\t{sub.status.value}\t{sub.delivery.value}"
                    f"\t{self_copy}\tbounces {sub.bounce_score:g}"
                )
            if page.next_after is None:
                break
            after = page.next_after


@list_group.command(name="set")
@click.argument("list_name", metavar="LIST")
@click.option("--subject-prefix", help="Tag subjects with [PREFIX]; '' for none (the default).")
@click.option("--footer", help="Text added at the end of every post; '' for none (the default).")
@click.option(
    "--dmarc",
    type=click.Choice(["auto", "none", "munge_from", "wrap"]),
    help="DMARC mitigation; auto (the default) munges From when the author's domain says"
    " p=reject or p=quarantine.",
)
@click.option(
    "--personalize/--no-personalize",
    default=None,
    help="VERP and one-click unsubscribe per subscriber (the default), or batched copies.",
)
@click.option("--bounce-threshold", type=click.FloatRange(min=1), help="Default 5.")
@click.option(
    "--visibility",
    metavar="public|unlisted|private",
    help="public (the default): listed, and open with the default rights; unlisted: the"
    " same but left off the list of lists; private: only owners, the group and access"
    " entries.",
)
@click.option(
    "--default-rights",
    metavar="RIGHTS",
    help="What everyone else may do, of browse,reply,post,moderate (default"
    " browse,reply,post); '' for nothing.",
)
@click.option(
    "--moderation",
    metavar="none|unsubscribed|all",
    help="Whose posts wait for a moderator: nobody's (the default), those of addresses not"
    " subscribed, or everyone's.",
)
@click.option("--moderation-days", metavar="DAYS", help="Held posts expire after DAYS (14).")
@click.option("--group", metavar="GROUP|none", help="The group that owns the list, or none.")
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="~OWNER/NAME",
    help="Link a hosted repository: the list's patches are applied there (repeatable).",
)
@click.option("--default", "default_repo", is_flag=True, help="Make the --repo the default.")
@click.option("--unlink-repo", multiple=True, metavar="~OWNER/NAME", help="Undo a --repo.")
def list_set(list_name: str, **changes) -> None:
    """Change how LIST sends mail, who may see and use it and which repositories its
    patches are for, and show the result."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        _change_repository_links(
            session, mlist, changes["repos"], changes["unlink_repo"], changes["default_repo"]
        )
        options = list_delivery(session, mlist.id)
        if changes["dmarc"] is not None:
            changes["dmarc_mode"] = changes["dmarc"]
        for name in ("subject_prefix", "footer", "dmarc_mode", "personalize", "bounce_threshold"):
            if changes.get(name) is not None:
                setattr(options, name, changes[name])
        group = changes["group"]
        days = changes["moderation_days"]
        change_list_settings(
            session,
            mlist,
            visibility=changes["visibility"],
            default_rights=changes["default_rights"],
            moderation=changes["moderation"],
            moderation_days=None
            if days is None
            else parse_int("--moderation-days", days, minimum=1, maximum=MODERATION_DAYS_MAX),
            owner_group=UNCHANGED if group is None else _group_named(session, group),
        )
        for name in ("subject_prefix", "footer", "dmarc_mode", "personalize", "bounce_threshold"):
            click.echo(f"{name.replace('_', '-')}\t{getattr(options, name)!r}")
        owner_group = session.get(Group, mlist.owner_group_id) if mlist.owner_group_id else None
        click.echo(f"visibility\t{mlist.visibility!r}")
        click.echo(f"default-rights\t{mlist.default_rights!r}")
        click.echo(f"moderation\t{mlist.moderation!r}")
        click.echo(f"moderation-days\t{mlist.moderation_days!r}")
        click.echo(f"group\t{('~' + owner_group.name) if owner_group else 'none'}")
        for entry in list_access_entries(session, mlist):
            click.echo(f"access\t{entry.who}\t{','.join(entry.rights) or '(none)'}")
        for link in repository_links(session, mlist.id):
            click.echo(f"repo\t{link.repository.path_name}\t{link.kind}")


def _change_repository_links(
    session, mlist, linked: tuple[str, ...], unlinked: tuple[str, ...], default: bool
) -> None:
    if default and len(linked) != 1:
        raise click.UsageError("--default goes with exactly one --repo")
    try:
        for text in unlinked:
            unlink_named(session, mlist, text, OPERATOR_ACTOR)
        for text in linked:
            link_named(session, mlist, text, OPERATOR_ACTOR, default=default)
    except RepositoryLinkError as e:
        raise click.ClickException(str(e)) from None


def _group_named(session, name: str):
    """The group `--group` names; None for 'none' (or '')."""
    return None if name.strip().lower() in ("", "none") else find_group(session, name)


@list_group.command(name="grant")
@click.argument("list_name", metavar="LIST")
@click.argument("who")
@click.option(
    "--rights",
    required=True,
    metavar="RIGHTS",
    help="Of browse,reply,post,moderate, comma-separated; '' shuts WHO out.",
)
def list_grant(list_name: str, who: str, rights: str) -> None:
    """Give WHO (an address, or ~username) exactly RIGHTS on LIST, in place of the
    default rights."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        entry = grant_list_access(session, mlist, who, rights)
        what = ",".join(entry.rights) if entry.rights else "no rights (shut out)"
        click.echo(f"{entry.who}\t{what}\ton {mlist.name}")


@list_group.command(name="revoke")
@click.argument("list_name", metavar="LIST")
@click.argument("who")
def list_revoke(list_name: str, who: str) -> None:
    """Remove WHO's access entry on LIST: the default rights apply to them again."""
    ready_database()
    with session_scope() as session:
        mlist = existing_list(session, list_name)
        done = revoke_list_access(session, mlist, who)
        click.echo(f"{who.strip()}\t" + ("entry removed" if done else "had no entry"))


@click.group(name="dkim")
def dkim_group() -> None:
    """The key that signs outgoing list mail."""


@dkim_group.command(name="genkey")
@click.option("--bits", type=click.Choice(["1024", "2048", "3072", "4096"]), default="2048")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def dkim_genkey(bits: str, force: bool) -> None:
    """Make the signing key (MAILYARD_DKIM_KEY_FILE) and print the DNS record to publish."""
    settings = get_settings()
    path = Path(settings.dkim_key_file)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_key(int(bits))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    name = dns_record_name(settings.dkim_selector, settings.domain.lower())
    click.echo(f"wrote {path}; publish this TXT record, then outgoing list mail is signed:")
    record = dns_record(pem)  # zone files take at most 255 characters per string
    strings = " ".join(f'"{record[i : i + 250]}"' for i in range(0, len(record), 250))
    click.echo(f"{name}. IN TXT ( {strings} )")
