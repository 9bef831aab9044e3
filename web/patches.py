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
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers.diff import DiffLexer

from archive import queries as archive_queries
from archive.models import MailingList, Message
from patchsets import queries
from patchsets.diff import FileDiff, diff_files, diffstat, split_patch
from patchsets.models import Patchset, PatchsetPatch, PatchsetStatus
from patchsets.queries import PatchTrailers
from patchsets.status import StatusRefused, allowed_statuses, change_status, parse_status
from web.context import (
    app_settings,
    check_csrf,
    current_actor,
    current_address,
    db_session,
    list_or_404,
    optional_int_arg,
)
from web.render import render_body, to_filename

bp = Blueprint("patches", __name__)

PATCHSETS_PER_PAGE = 50
REPLIES_SHOWN = 200  # of a thread, on a patchset page; the thread view has them all

_FORMATTER = HtmlFormatter(nowrap=True)  # class-named spans, no inline styles


@dataclass
class PatchView:
    """What the patchset page shows of one patch."""

    patch: PatchsetPatch
    message: Message
    commit: Markup
    diffstat: str
    files: list[tuple[FileDiff, Markup | None]]  # highlighted diff; None for binary
    trailers: PatchTrailers


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
    mlist, patchset = _patchset(name, patchset_id)
    session = db_session()
    current = queries.current_patches(patchset)
    cover = _get(Message, patchset.cover_message_pk)
    bodies = archive_queries.message_bodies(
        session, [p.message_pk for p in current] + ([cover.id] if cover else [])
    )
    trailers = queries.collect_trailers(session, patchset)
    patches = [
        _patch_view(p, bodies.get(p.message_pk, ""), trailers.get(p.message_pk)) for p in current
    ]
    first = cover or (current[0].message if current else None)
    replies = _replies(mlist, patchset, first)
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
    )


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/mbox")
def mbox(name: str, patchset_id: int):
    mlist, patchset = _patchset(name, patchset_id)
    entries = queries.series_mbox(db_session(), patchset, mlist.name, app_settings().base_url)
    if not entries:
        abort(404, "This patchset has no patches yet.")
    filename = to_filename(f"{patchset.name} v{patchset.version}", f"patchset-{patchset.id}")
    response = Response(b"".join(entries), content_type="application/mbox")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}.mbox"'
    return response


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/<id('patch'):position>.patch")
def patch(name: str, patchset_id: int, position: int):
    mlist, patchset = _patchset(name, patchset_id)
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
    mlist, patchset = _patchset(name, patchset_id)
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


# -- helpers -----------------------------------------------------------------------------


def _patchset(name: str, patchset_id: int) -> tuple[MailingList, Patchset]:
    mlist = list_or_404(name)
    patchset = queries.get_patchset(db_session(), patchset_id, mlist.name)
    if patchset is None:
        abort(404, f"There is no patchset {patchset_id} on the list {mlist.name}.")
    return mlist, patchset


def _get(model, pk: int | None):
    return None if pk is None else db_session().get(model, pk)


def _status_filter(value: str) -> PatchsetStatus | None:
    if not value.strip():
        return None
    try:
        return parse_status(value)
    except StatusRefused as e:
        abort(400, str(e))


def _patch_view(patch: PatchsetPatch, body: str, trailers: PatchTrailers | None) -> PatchView:
    _message, diff = split_patch(body)
    files = diff_files(diff) if diff else []
    return PatchView(
        patch=patch,
        message=patch.message,
        commit=render_body(queries.commit_message(body)),
        diffstat=diffstat(files),
        files=[(f, None if f.binary else _highlight(f.text)) for f in files],
        trailers=trailers or PatchTrailers(),
    )


def _highlight(diff: str) -> Markup:
    """Pygments' HTML for a diff: its input escaped, tokens as class-named spans."""
    return Markup(highlight(diff, DiffLexer(), _FORMATTER))


def _replies(
    mlist: MailingList, patchset: Patchset, first: Message | None
) -> list[archive_queries.ThreadEntry]:
    """The thread's other messages (reviews, replies), oldest first: one more than
    REPLIES_SHOWN at most, so the page knows to point at the thread view for the rest."""
    if first is None:
        return []
    session = db_session()
    node = archive_queries.find_node(session, mlist.id, first.message_id)
    if node is None:
        return []
    own = {p.message_pk for p in patchset.patches} | {patchset.cover_message_pk}
    entries = archive_queries.date_order(archive_queries.thread_entries(session, node))
    # date_order keeps the received messages only: no entry is a placeholder
    replies = [e for e in entries if e.message is not None and e.message.id not in own]
    return replies[: REPLIES_SHOWN + 1]
