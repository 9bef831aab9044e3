"""The one list of domains: what each offers the floors below and the faces above it.

Nothing below the shell names a domain to reach it (DESIGN: floors). A domain declares
its address kinds, outbox kinds, hooks, tasks and beat entries; the faces have a
blueprint and a command group per domain; this module lists them all, in the order
they are tried, and `install()` connects them. Every process calls `install()` before
it takes mail or runs a task: the CLI's root command, the Celery app, the test suite.
"""

from __future__ import annotations

import click
from celery.schedules import crontab
from flask import Blueprint

import accounts.models
import archive.models
import lists.models
import mail.models
import patchsets.models
import repos.models
import trackers.models
from accounts import addresses as account_addresses
from accounts import hooks as account_hooks
from accounts.smtp_auth import authenticate_submitter
from archive import hooks as archive_hooks
from core.registry import mark_wired
from lists import addresses as list_addresses
from lists import delivery as list_delivery
from lists import hooks as list_hooks
from mail.address_kinds import AddressKind
from mail.delivery import OutboxKind, register_kind
from mail.local_intake import DELIVER_LOCALLY
from mail.submission import AUTHENTICATE
from mailyard import ssh_commands
from mailyard.commands import groups as group_commands
from mailyard.commands import lists as list_commands
from mailyard.commands import messages as message_commands
from mailyard.commands import patches as patch_commands
from mailyard.commands import repos as repo_commands
from mailyard.commands import trackers as tracker_commands
from mailyard.commands import users as user_commands
from mta.local import local_intake
from patchsets import hooks as patchset_hooks
from patchsets.applied_on_push import mark_applied_on_push
from patchsets.queries import messages_with_patch_id
from patchsets.removal import forget_removed_message
from patchsets.track import reset_patchsets, track_messages
from repos import hooks as repo_hooks
from repos.repositories import path_taken
from trackers import addresses as tracker_addresses
from trackers.commit_refs import note_pushed_ticket_refs
from trackers.patch_links import reference_tickets, resolve_fixed_tickets
from trackers.tickets import tracker_named
from web.account_settings import bp as account_settings_bp
from web.accounts import bp as accounts_bp
from web.archive import bp as archive_bp
from web.auth import bp as auth_bp
from web.git_http import bp as git_http_bp
from web.groups import bp as groups_bp
from web.moderation import bp as moderation_bp
from web.patch_apply import bp as patch_apply_bp
from web.patches import bp as patches_bp
from web.projects import bp as projects_bp
from web.repo_send import bp as repo_send_bp
from web.repo_settings import bp as repo_settings_bp
from web.repos import bp as repos_bp
from web.subscriptions import bp as subscriptions_bp
from web.tracker_settings import bp as tracker_settings_bp
from web.trackers import bp as trackers_bp

# Every table, for Alembic and for anything that needs the whole schema.
MODEL_MODULES = (
    archive.models,
    mail.models,
    accounts.models,
    lists.models,
    patchsets.models,
    repos.models,
    trackers.models,
)

# Tried in this order at RCPT: the site's own postmaster@ and abuse@ first (RFC 5321
# wants them whatever else exists), a list's sub-addresses before its posting address,
# and lists before trackers (a name that is no list falls through to the trackers).
ADDRESS_KINDS: tuple[AddressKind, ...] = (
    *account_addresses.ADDRESS_KINDS,
    *list_addresses.ADDRESS_KINDS,
    *tracker_addresses.ADDRESS_KINDS,
)

# What mail Mailyard sends to its own addresses goes through (a series sent from the web).
LOCAL_INTAKE = local_intake(ADDRESS_KINDS)

OUTBOX_KINDS: tuple[OutboxKind, ...] = (list_delivery.OUTBOX_KIND,)

# Modules whose Celery tasks the workers run (task names are the data's, see each).
TASK_MODULES = (
    "archive.tasks",
    "mail.tasks",
    "lists.tasks",
    "accounts.tasks",
    "repos.tasks",
    "patchsets.tasks",
)

BEAT_SCHEDULE = {
    "sweep-pending": {"task": "archive.sweep_pending", "schedule": 30.0},
    "sweep-outbox": {"task": "mta.sweep_outbox", "schedule": 30.0},
    "send-digests": {"task": "mta.send_digests", "schedule": crontab(minute=0, hour=0)},
    "prune-outbox": {"task": "mta.prune_outbox", "schedule": crontab(minute=30, hour=3)},
    "expire-held": {"task": "mta.expire_held", "schedule": crontab(minute=15)},
    "prune-rate-limits": {"task": "accounts.prune_rate_limits", "schedule": crontab(minute=45)},
    "sweep-pushes": {"task": "repos.sweep_pushes", "schedule": 30.0},
}

# What a worker starting after a crash runs at once, to finish what the dead one left.
STARTUP_TASKS = ("archive.sweep_pending", "mta.sweep_outbox", "repos.sweep_pushes")

# In this order: the account pages before the archive, whose /<name>/ rules would
# otherwise take /~user, /account...
BLUEPRINTS: tuple[Blueprint, ...] = (
    accounts_bp,
    account_settings_bp,
    groups_bp,
    git_http_bp,
    projects_bp,
    repos_bp,
    # After projects: its /~OWNER/NAME/settings is matched first and hands over here.
    repo_settings_bp,
    repo_send_bp,
    moderation_bp,
    archive_bp,
    auth_bp,
    patches_bp,
    patch_apply_bp,
    subscriptions_bp,
    tracker_settings_bp,
    trackers_bp,
)

CLI_GROUPS: tuple[click.Group, ...] = (
    list_commands.list_group,
    list_commands.dkim_group,
    message_commands.message_group,
    tracker_commands.tracker_group,
    patch_commands.patchset_group,
    patch_commands.key_group,
    user_commands.user_group,
    group_commands.group_group,
    group_commands.project_group,
    repo_commands.repo_group,
    ssh_commands.ssh_group,
)


def install() -> None:
    """Connect the domains to the hooks and registries of the floors below them.
    Idempotent."""
    # In this order: patch links read the patchsets the tracker has just filed.
    archive_hooks.AFTER_INGEST.connect(track_messages)
    archive_hooks.AFTER_INGEST.connect(reference_tickets)
    archive_hooks.RESET.connect(reset_patchsets)
    archive_hooks.MESSAGE_REMOVED.connect(forget_removed_message)
    archive_hooks.PATCH_ID_MESSAGES.connect(messages_with_patch_id)
    repo_hooks.AFTER_PUSH.connect(mark_applied_on_push)
    repo_hooks.AFTER_PUSH.connect(note_pushed_ticket_refs)
    list_hooks.NAME_TAKEN.connect(tracker_named)
    patchset_hooks.PATCHSET_APPLIED.connect(resolve_fixed_tickets)
    AUTHENTICATE.connect(authenticate_submitter)
    DELIVER_LOCALLY.connect(LOCAL_INTAKE)
    account_hooks.PATH_TAKEN.connect(path_taken)
    for kind in OUTBOX_KINDS:
        register_kind(kind)
    mark_wired()
