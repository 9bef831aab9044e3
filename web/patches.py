"""The patch tracker's pages: a list's patchsets, one patchset, its downloads, and the
status form.

    /<list>/patches                         patchsets, newest first (?status= ?submitter=
                                            ?tag= filter, ?before=<id> pages)
    /<list>/patches/<id>/                   one patchset: versions, trailers, diffs, replies
    /<list>/patches/<id>/mbox               the series, ready for `git am`
    /<list>/patches/<id>/<n>.patch          one patch of it
    POST /<list>/patches/<id>/status        change the status (signed in, CSRF-checked)

Every page answers 404 to whoever may not browse the list, as for a list that does not
exist (`web.app.list_or_404`).

Mail text is shown escaped (`web.render`); diffs go through Pygments, which escapes
its input and marks tokens with classes only, since the CSP forbids inline styles.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from archive import queries as archive_queries
from archive.models import MailingList, Message
from patchsets import queries
from patchsets.applied_on_push import commits_of_patches
from patchsets.apply import latest_attempt
from patchsets.diff import FileDiff, diff_files, diffstat, split_patch
from patchsets.models import Patchset, PatchsetPatch, PatchsetStatus
from patchsets.queries import CollectedTrailer, PatchTrailers, patchset_replies
from patchsets.repositories import patchset_repository
from patchsets.status import StatusRefused, allowed_statuses, change_status, parse_status
from trackers.access import TrackerRight
from trackers.access import may as may_on_tracker
from trackers.mentions import TicketRef, render_with_links
from trackers.models import EventKind, Ticket, TicketEvent, Tracker
from web.context import (
    app_settings,
    check_csrf,
    current_actor,
    current_address,
    db_session,
    list_or_404,
    optional_int_arg,
    patchset_or_404,
)
from web.patch_apply import apply_panel
from web.render import highlight_diff, link_pieces, render_body, to_filename

bp = Blueprint("patches", __name__)

PATCHSETS_PER_PAGE = 50
REPLIES_SHOWN = 200  # of a thread, on a patchset page; the thread view has them all


@dataclass
class PatchView:
    """What the patchset page shows of one patch."""

    patch: PatchsetPatch
    message: Message
    commit: Markup  # the commit message, its trailers included, closed tickets linked
    diffstat: str
    files: list[tuple[FileDiff, Markup | None]]  # highlighted diff; None for binary
    given: list[CollectedTrailer]  # trailers replies gave that the commit does not hold
    author: str | None  # the in-body From: the author, when not the sender


# -- pages ------------------------------------------------------------------------------


@bp.get("/<name>/patches")
def listing(name: str):
    mlist = list_or_404(name)
    status = _status_filter(request.args.get("status", ""))
    submitter = request.args.get("submitter", "").strip() or None
    tag = request.args.get("tag", "").strip() or None
    before = optional_int_arg("before", minimum=1)
    session = db_session()
    rows = queries.patchsets_page(
        session,
        mlist.id,
        status=status,
        submitter=submitter,
        tag=tag,
        before_id=before,
        limit=PATCHSETS_PER_PAGE + 1,
    )
    more = len(rows) > PATCHSETS_PER_PAGE
    rows = rows[:PATCHSETS_PER_PAGE]
    filters = {"status": status.value if status else None, "submitter": submitter, "tag": tag}
    return render_template(
        "patches.html",
        mlist=mlist,
        patchsets=rows,
        lines=queries.line_totals(db_session(), [p.id for p in rows]),
        filters=filters,
        statuses=list(PatchsetStatus),
        older=rows[-1].id if more else None,
        paged=before is not None,
    )


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/")
def patchset_page(name: str, patchset_id: int):
    mlist, patchset = patchset_or_404(name, patchset_id)
    session = db_session()
    current = queries.current_patches(patchset)
    cover = _get(Message, patchset.cover_message_pk)
    bodies = archive_queries.message_bodies(
        session, [p.message_pk for p in current] + ([cover.id] if cover else [])
    )
    trailers = queries.collect_trailers(session, patchset)
    closing = _closed_tickets(current)
    patches = [
        _patch_view(
            p, bodies.get(p.message_pk, ""), trailers.get(p.message_pk), closing.get(p.message_id)
        )
        for p in current
    ]
    first = cover or (current[0].message if current else None)
    replies = patchset_replies(db_session(), mlist, patchset, first, REPLIES_SHOWN + 1)
    base = app_settings().base_url.rstrip("/")
    return render_template(
        "patchset.html",
        mlist=mlist,
        patchset=patchset,
        versions=queries.version_history(session, patchset),
        superseded_by=_get(Patchset, patchset.superseded_by_id),
        events=queries.status_events(session, patchset),
        allowed=allowed_statuses(session, mlist, patchset, current_actor()),
        cover=cover,
        cover_body=render_body(bodies.get(cover.id, "")) if cover else None,
        patches=patches,
        replaced=[p for p in patchset.patches if p.replaced],
        first=first,
        replies=replies[:REPLIES_SHOWN],
        more_replies=len(replies) > REPLIES_SHOWN,
        mbox_url=f"{base}{url_for('patches.mbox', name=mlist.name, patchset_id=patchset.id)}",
        repository=patchset_repository(session, app_settings(), patchset, current_actor()),
        found_commits=commits_of_patches(session, patchset, current_actor()),
        **apply_panel(mlist, patchset, latest_attempt(session, patchset)),
    )


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/mbox")
def mbox(name: str, patchset_id: int):
    mlist, patchset = patchset_or_404(name, patchset_id)
    entries = queries.series_mbox(db_session(), patchset, mlist.name, app_settings().base_url)
    if not entries:
        abort(404, "This patchset has no patches yet.")
    filename = to_filename(f"{patchset.name} v{patchset.version}", f"patchset-{patchset.id}")
    response = Response(b"".join(entries), content_type="application/mbox")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}.mbox"'
    return response


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/<id('patch'):position>.patch")
def patch(name: str, patchset_id: int, position: int):
    mlist, patchset = patchset_or_404(name, patchset_id)
    entries = queries.series_mbox(
        db_session(), patchset, mlist.name, app_settings().base_url, only_position=position
    )
    if not entries:
        abort(404, f"Patchset {patchset.id} has no patch {position}.")
    return Response(entries[0], content_type="text/x-patch; charset=utf-8")


@bp.post("/<name>/patches/<id('patchset'):patchset_id>/status")
def set_status(name: str, patchset_id: int):
    """Signed-in people only (403 otherwise, before anything else is looked at); the
    domain's rule decides who may set what."""
    actor = current_actor()
    if actor.anonymous:
        abort(403, "Sign in to change the status of a patchset.")
    check_csrf()
    mlist, patchset = patchset_or_404(name, patchset_id)
    try:
        status = parse_status(request.form.get("status", ""))
    except StatusRefused as e:
        abort(400, str(e))
    session = db_session()
    try:
        change_status(
            session, mlist, patchset, status, actor=actor, via="web", label=current_address()
        )
    except StatusRefused as e:
        abort(403, str(e))
    session.commit()
    return redirect(url_for("patches.patchset_page", name=mlist.name, patchset_id=patchset.id), 303)


@dataclass(frozen=True)
class SeriesLink:
    """The patchset a message is a patch or the cover letter of, as its page links it."""

    name: str
    version: int
    url: str


@bp.app_template_global()
def patchset_of(message: Message, list_name: str) -> SeriesLink | None:
    """The patchset on the list `list_name` (the one the page shows the message under, so
    no other list is named) that has `message` as a patch or cover letter."""
    # Two lookups, each by its own index (ix_patchset_patches_message, the cover's).
    session = db_session()
    on_list = select(MailingList.id).where(MailingList.name == list_name).scalar_subquery()
    as_patch = select(PatchsetPatch.patchset_id).where(PatchsetPatch.message_pk == message.id)
    patchset = session.scalar(
        select(Patchset)
        .where(Patchset.list_id == on_list, Patchset.id.in_(as_patch))
        .order_by(Patchset.id)
        .limit(1)
    ) or session.scalar(
        select(Patchset)
        .where(Patchset.list_id == on_list, Patchset.cover_message_pk == message.id)
        .order_by(Patchset.id)
        .limit(1)
    )
    if patchset is None:
        return None
    url = url_for("patches.patchset_page", name=list_name, patchset_id=patchset.id)
    return SeriesLink(patchset.name, patchset.version, url)


# -- helpers -----------------------------------------------------------------------------


def _get(model, pk: int | None):
    return None if pk is None else db_session().get(model, pk)


def _status_filter(value: str) -> PatchsetStatus | None:
    if not value.strip():
        return None
    try:
        return parse_status(value)
    except StatusRefused as e:
        abort(400, str(e))


def _patch_view(
    patch: PatchsetPatch,
    body: str,
    trailers: PatchTrailers | None,
    closes: dict[tuple[str, int], str] | None,
) -> PatchView:
    _message, diff = split_patch(body)
    files = diff_files(diff) if diff else []
    trailers = trailers or PatchTrailers()
    # A trailer the commit message holds is shown there, once; a reply that gives it
    # again adds nothing to show.
    present = {(t.name.lower(), t.value) for t in trailers.body}
    given = [g for g in trailers.given if (g.trailer.name.lower(), g.trailer.value) not in present]
    return PatchView(
        patch=patch,
        message=patch.message,
        commit=_render_commit(queries.commit_message(body), closes or {}),
        diffstat=diffstat(files),
        files=[(f, None if f.binary else highlight_diff(f.text)) for f in files],
        given=given,
        author=queries.inbody_author(body),
    )


def _closed_tickets(patches: list[PatchsetPatch]) -> dict[str, dict[tuple[str, int], str]]:
    """For each patch (by Message-ID), the tickets its `Closes:` trailers were noted on
    (`trackers.patch_links` records them as reference events) that the reader may
    browse, with their pages' paths."""
    msgids = [p.message_id for p in patches]
    if not msgids:
        return {}
    session = db_session()
    rows = session.execute(
        select(TicketEvent.message_id, Tracker, Ticket.number)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .join(Tracker, Tracker.id == Ticket.tracker_id)
        .where(TicketEvent.kind == EventKind.reference, TicketEvent.message_id.in_(msgids))
    ).all()
    actor = current_actor()
    browsable: dict[int, bool] = {}
    found: dict[str, dict[tuple[str, int], str]] = {}
    for msgid, tracker, number in rows:
        if tracker.id not in browsable:
            browsable[tracker.id] = may_on_tracker(session, tracker, actor, TrackerRight.browse)
        if browsable[tracker.id]:
            url = url_for("trackers.ticket_page", name=tracker.name, number=number)
            found.setdefault(msgid, {})[(tracker.name, number)] = url
    return found


def _render_commit(text: str, closes: dict[tuple[str, int], str]) -> Markup:
    """The commit message as `render_body` draws it, the refs of its closing trailers
    that name a known ticket linked to it."""
    if not closes:
        return render_body(text)
    base_url = app_settings().base_url

    def link_for(ref: TicketRef) -> str | None:
        return closes.get((ref.tracker or "", ref.number))

    return render_body(
        text, lambda run: link_pieces(render_with_links(run, link_for, base_url=base_url))
    )
