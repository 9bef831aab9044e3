"""Ticket trackers' pages: the trackers, a tracker's tickets, one ticket, and the forms
that write (a comment, a new ticket, an edit, triage commands). The tracker's settings
are `web.tracker_settings`.

    /trackers/                               the trackers the visitor may browse and their
                                             addresses (?after= pages)
    /<tracker>/tickets/                      tickets, recently updated first (?status= ?label=
                                             ?assignee= ?submitter= ?q= filter,
                                             ?before=<iso>,<id> pages)
    /<tracker>/tickets/style.css             label colours as classes
    /<tracker>/tickets/<n>/                  one ticket and its history (?after=<event> pages)
    /<tracker>/tickets/<n>/<event>/<N>-<file>  attachment N of the mail event <event> came by
    POST /<tracker>/tickets/<n>/comment      comment (signed in, CSRF-checked)
    /<tracker>/tickets/new                   the new-ticket form, pre-filled by ?title=
                                             and ?description= (links carrying a trace)
    POST /<tracker>/tickets/new              open the ticket (signed in, CSRF-checked)
    POST /<tracker>/tickets/<n>/edit         a new title (the edit right)
    POST /<tracker>/tickets/<n>/triage       triage commands, as in a reply (the triage right)
    /<tracker>/tickets/export.json.gz        the signed export, for the tracker's owners

Every route asks the tracker's rights (`trackers.access`) for the signed-in person: a
tracker they may not browse answers 404 everywhere, as one that does not exist; a form
they may not use answers 403 and is not shown.

Tickets are opened and discussed by mail first; the pages say which address to write to.
Descriptions and comments are mail text, shown escaped; the only markup added is ours:
links for http(s) URLs and for refs (`#N`, `NAME#N`, ticket URLs) to tickets that exist.
The CSP forbids inline styles, so label colours come from a generated stylesheet of
classes named after each (validated) colour rather than from `style=` attributes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from core.errors import UserError
from core.params import TICKET_NUMBER_MAX, parse_keyset
from trackers.access import TrackerRight, browsable_trackers, tracker_rights
from trackers.commands import CommandName, Status, format_command_help, parse_reply
from trackers.export import export_tracker, write_export
from trackers.mentions import TicketRef, find_ticket_refs, render_with_links
from trackers.models import EventKind, Ticket, TicketEvent, Tracker
from trackers.notify import notify_ticket
from trackers.queries import TicketFilter, existing_tickets, tickets_page
from trackers.tickets import (
    CommandRefused,
    Origin,
    add_comment,
    apply_command,
    follow,
    get_ticket,
    open_ticket,
    retitle,
    ticket_events,
    tracker_labels,
    unfollow,
)
from web.attachments import Attachment, attachment_response, list_attachments
from web.context import (
    addresses,
    app_settings,
    arg_label,
    check_csrf,
    current_actor,
    current_address,
    db_session,
    int_arg,
    is_owner,
    tracker_or_404,
)
from web.forms import FieldRefused, form_error, form_text
from web.render import link_pieces, render_body

bp = Blueprint("trackers", __name__)

TRACKERS_PER_PAGE = 200
TICKETS_PER_PAGE = 50
EVENTS_PER_PAGE = 200
TICKET = f"<id('ticket', {TICKET_NUMBER_MAX}):number>"  # a ticket number in a path
REFS_LOOKED_UP = 500  # distinct ticket refs per page checked for a ticket to link to
MAILTO_BODY_MAX = 1500  # longer pre-filled descriptions are left out of the mailto link

OPEN, ALL = "open", "all"
_COLOR = re.compile(r"^#[0-9a-f]{6}$")


@dataclass
class EventView:
    """One entry of a ticket's history, its text already rendered."""

    event: TicketEvent
    body: Markup | None  # the description or comment; None for one-line changes
    authenticity: str | None = None
    data: dict = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)  # of the mail it came by


# -- pages ------------------------------------------------------------------------------


@bp.get("/trackers/")
def index():
    """Public trackers, and those the visitor has a particular right on (unlisted and
    private ones they belong to); never one they may not browse."""
    after = request.args.get("after", "").strip().lower()
    rows, more = browsable_trackers(
        db_session(), current_actor(), after=after, limit=TRACKERS_PER_PAGE
    )
    return render_template(
        "trackers.html",
        trackers=rows,
        next_after=rows[-1].name if more else None,
        paged=bool(after),
    )


@bp.get("/<name>/tickets/")
def listing(name: str):
    tracker = tracker_or_404(name)
    status_arg = request.args.get("status", "").strip().lower().replace("-", "_") or OPEN
    filters = {
        "status": status_arg if status_arg != OPEN else None,
        "label": request.args.get("label", "").strip().lower() or None,
        "assignee": request.args.get("assignee", "").strip().lower() or None,
        "submitter": request.args.get("submitter", "").strip().lower() or None,
        "q": request.args.get("q", "").strip() or None,
    }
    wanted = TicketFilter(
        status=_status_filter(status_arg),
        open_only=status_arg == OPEN,
        label=filters["label"],
        assignee=filters["assignee"],
        submitter=filters["submitter"],
        query=filters["q"],
    )
    before = _parse_before(request.args.get("before", ""))
    session = db_session()
    page = tickets_page(session, tracker.id, wanted, before=before, limit=TICKETS_PER_PAGE)
    filters = {k: v for k, v in filters.items() if v}
    older = None
    if page.next_before is not None:
        when, ticket_id = page.next_before
        older = f"{when.astimezone(UTC).isoformat()},{ticket_id}"
    mail_to = addresses(tracker.name)
    return render_template(
        "tickets.html",
        tracker=tracker,
        tickets=page.tickets,
        label_classes=_label_classes(tracker_labels(session, tracker.id)),
        filters=filters,
        status_arg=status_arg,
        statuses=list(Status),
        older=older,
        paged=before is not None,
        address=mail_to.posting,
        rights=_rights(tracker),
    )


@bp.get("/<name>/tickets/style.css")
def stylesheet(name: str):
    """The tracker's label colours, one class per colour: the CSP allows our own
    stylesheets but no inline styles. Everything static is in `static/style.css`."""
    tracker = tracker_or_404(name)
    colors = sorted(set(_label_classes(tracker_labels(db_session(), tracker.id)).values()))
    rules = [
        f".tag.{cls} {{ background: #{cls[3:]}; color: {_text_color(cls[3:])};"
        f" border-color: #{cls[3:]}; }}"
        for cls in colors
    ]
    response = Response("\n".join(rules) + "\n", content_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get(f"/<name>/tickets/{TICKET}/")
def ticket_page(name: str, number: int):
    tracker, ticket = _ticket_or_404(name, number)
    return render_template("ticket.html", **_ticket_page_values(tracker, ticket))


def _ticket_page_values(tracker: Tracker, ticket: Ticket) -> dict:
    """What ticket.html shows: the ticket, a page of its history, and its forms."""
    after = int_arg("after")
    session = db_session()
    events = ticket_events(session, ticket, after=after, limit=EVENTS_PER_PAGE + 1)
    more = len(events) > EVENTS_PER_PAGE
    events = events[:EVENTS_PER_PAGE]
    link_for = _ref_linker(tracker, [e.text for e in events if e.text])
    raws = _event_raws(events)
    mail_to = addresses(tracker.name)
    subject = f"Re: [{tracker.name}#{ticket.number}] {ticket.title}"
    return dict(
        tracker=tracker,
        ticket=ticket,
        events=[_event_view(e, link_for, raws.get(e.id)) for e in events],
        label_classes=_label_classes(tracker_labels(session, tracker.id)),
        later=events[-1].id if more else None,
        paged=after > 0,
        reply_mailto=f"mailto:{mail_to.at(ticket.number)}?"
        + urlencode({"subject": subject}, quote_via=quote),
        reply_address=mail_to.at(ticket.number),
        rights=_rights(tracker),
        command_help=format_command_help(),
    )


@bp.get(f"/<name>/tickets/{TICKET}/<id('event'):event_id>/<part>")
def attachment(name: str, number: int, event_id: int, part: str):
    """An attachment of the mail that made event `event_id`, as public-inbox's N-filename
    (the name is ignored), served as `web.attachments` serves every download."""
    _tracker, ticket = _ticket_or_404(name, number)
    raw = db_session().scalar(
        select(TicketEvent.raw).where(
            TicketEvent.id == event_id, TicketEvent.ticket_id == ticket.id
        )
    )
    if raw is None:
        abort(404, f"Event {event_id} of {name}#{number} came by no mail.")
    return attachment_response(raw, part.split("-", 1)[0], f"The mail of event {event_id}")


def _ticket_form_refused(tracker: Tracker, ticket: Ticket, error: Exception, field: str):
    """The ticket page again (400) with the refused form as it was sent and the reason
    beside it; nothing the form asked for is kept."""
    db_session().rollback()
    return form_error("ticket.html", error, field=field, **_ticket_page_values(tracker, ticket))


@bp.post(f"/<name>/tickets/{TICKET}/comment")
def comment(name: str, number: int):
    """Signed-in people only (403 before anything else is looked at)."""
    actor = current_address()
    if actor is None:
        abort(403, "Sign in to comment on a ticket, or reply to it by mail.")
    check_csrf()
    tracker, ticket = _ticket_or_404(name, number)
    _require(tracker, TrackerRight.comment, "comment on")
    try:
        text = form_text("text")
        if not text.strip():
            raise FieldRefused("text", "the comment is empty; write something to post")
    except FieldRefused as refused:
        return _ticket_form_refused(tracker, ticket, refused, "text")
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    event = add_comment(session, ticket, text, origin)
    _notify(tracker, ticket, [event], origin)
    session.commit()
    url = url_for("trackers.ticket_page", name=tracker.name, number=ticket.number)
    return redirect(f"{url}#e{event.id}", 303)


@bp.get("/<name>/tickets/new")
def new_form(name: str):
    tracker = tracker_or_404(name)
    values = _new_ticket_values(
        tracker, request.args.get("title", ""), request.args.get("description", "")
    )
    return render_template("ticket_new.html", **values)


def _new_ticket_values(tracker: Tracker, title: str, description: str) -> dict:
    """What ticket_new.html shows, filled in with `title` and `description`."""
    mail_to = addresses(tracker.name)
    mail = {"subject": title} if title else {}
    if description and len(description) <= MAILTO_BODY_MAX:
        mail["body"] = description
    mailto = f"mailto:{mail_to.posting}"
    if mail:
        mailto += "?" + urlencode(mail, quote_via=quote)
    return dict(
        tracker=tracker,
        title=title,
        description=description,
        address=mail_to.posting,
        mailto=mailto,
        rights=_rights(tracker),
    )


@bp.post("/<name>/tickets/new")
def new_ticket(name: str):
    actor = current_address()
    if actor is None:
        abort(403, "Sign in to open a ticket on the web, or send it by mail.")
    check_csrf()
    tracker = tracker_or_404(name)
    _require(tracker, TrackerRight.submit, "open tickets on")
    title = request.form.get("title", "").strip()
    description = request.form.get("description", "")
    try:
        title, description = form_text("title").strip(), form_text("description")
        if not title:
            raise FieldRefused("title", "a ticket needs a title")
    except FieldRefused as refused:
        values = _new_ticket_values(tracker, title, description)
        return form_error("ticket_new.html", refused, **values)
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    ticket = open_ticket(session, tracker, title, description, origin)
    _notify(tracker, ticket, ticket_events(session, ticket)[:1], origin)
    session.commit()
    return redirect(url_for("trackers.ticket_page", name=tracker.name, number=ticket.number), 303)


@bp.post(f"/<name>/tickets/{TICKET}/edit")
def edit(name: str, number: int):
    """A new title, for those with the edit right (as `!title` by mail)."""
    actor = _signed_in("edit a ticket")
    check_csrf()
    tracker, ticket = _ticket_or_404(name, number)
    _require(tracker, TrackerRight.edit, "edit tickets on")
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    try:
        events = retitle(session, ticket, form_text("title"), origin)
    except (CommandRefused, FieldRefused) as refused:
        return _ticket_form_refused(tracker, ticket, refused, "title")
    _notify(tracker, ticket, events, origin)
    session.commit()
    return redirect(url_for("trackers.ticket_page", name=tracker.name, number=ticket.number), 303)


@bp.post(f"/<name>/tickets/{TICKET}/triage")
def triage(name: str, number: int):
    """Commands written as in a reply by mail (`!status confirmed`, `!label bug`...), for
    triagers. All or nothing: unless every line is a command that can be applied,
    nothing changes, and the page comes back with the lines as typed and which ones
    were refused and why."""
    actor = _signed_in("triage a ticket")
    check_csrf()
    tracker, ticket = _ticket_or_404(name, number)
    _require(tracker, TrackerRight.triage, "triage")
    try:
        parsed = parse_reply(form_text("commands"))
    except FieldRefused as refused:
        return _ticket_form_refused(tracker, ticket, refused, "commands")
    problems = [f"{p.line}: {p.reason}" for p in parsed.problems]
    if parsed.comment.strip():
        problems.append("only command lines (starting with '!') go in this form")
    if problems or not parsed.commands:
        reason = "; ".join(problems) or "write one or more commands, one per line"
        return _ticket_form_refused(
            tracker, ticket, UserError(f"nothing was changed: {reason}"), "commands"
        )
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    events: list[TicketEvent] = []
    for command in parsed.commands:
        if command.name is CommandName.subscribe:
            follow(session, tracker.id, ticket, actor)
        elif command.name is CommandName.unsubscribe:
            unfollow(session, tracker.id, ticket, actor)
        else:
            try:
                events += apply_command(session, tracker, ticket, command, origin)
            except CommandRefused as refused:
                error = UserError(f"nothing was changed: {command.line}: {refused}")
                return _ticket_form_refused(tracker, ticket, error, "commands")
    _notify(tracker, ticket, events, origin)
    session.commit()
    return redirect(url_for("trackers.ticket_page", name=tracker.name, number=ticket.number), 303)


# -- helpers -----------------------------------------------------------------------------


@bp.get("/<name>/tickets/export.json.gz")
def export(name: str):
    """The tracker's signed export (`trackers.export`), for its owner: the same file as
    `mailyard tracker export`."""
    tracker = tracker_or_404(name)
    if not is_owner(tracker):
        abort(403, f"Only the owners of {tracker.name} may export it; sign in as an owner.")

    buffer = io.BytesIO()
    write_export(export_tracker(db_session(), app_settings(), tracker), buffer)
    return Response(
        buffer.getvalue(),
        mimetype="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{tracker.name}.json.gz"'},
    )


def _rights(tracker: Tracker) -> frozenset[str]:
    return tracker_rights(db_session(), tracker, current_actor())


def _require(tracker: Tracker, right: str, verb: str) -> None:
    if right not in _rights(tracker):
        abort(403, f"You may not {verb} {tracker.name}.")


def _signed_in(what: str) -> str:
    """The signed-in person's address; 403 (before anything else is looked at) if none."""
    address = current_address()
    if address is None:
        abort(403, f"Sign in to {what}.")
    return address


def _ticket_or_404(name: str, number: int) -> tuple[Tracker, Ticket]:
    tracker = tracker_or_404(name)
    ticket = get_ticket(db_session(), tracker.id, number)
    if ticket is None:
        abort(404, f"There is no ticket {tracker.name}#{number}.")
    return tracker, ticket


def _notify(tracker: Tracker, ticket: Ticket, events: list[TicketEvent], origin: Origin) -> None:
    """Mail the ticket's people, in the transaction that made the events (outbox rows)."""
    notify_ticket(db_session(), app_settings(), tracker, ticket, events, origin)


def _status_filter(value: str) -> Status | None:
    if value in (OPEN, ALL):
        return None
    try:
        return Status(value)
    except ValueError:
        choices = ", ".join([OPEN, ALL, *(s.value for s in Status)])
        abort(400, f"Unknown status {value!r}; use one of: {choices}.")


def _parse_before(value: str) -> tuple[datetime, int] | None:
    """`<iso datetime>,<ticket id>`, as the 'older tickets' link writes it."""
    return parse_keyset(arg_label("before"), value) if value.strip() else None


def _label_classes(labels: dict[str, str]) -> dict[str, str]:
    """Label name -> the class of its colour; a colour that is not '#rrggbb' gets none."""
    return {
        name: f"lc-{color.lower()[1:]}"
        for name, color in labels.items()
        if _COLOR.match((color or "").lower())
    }


def _text_color(hex6: str) -> str:
    """Black or white, whichever reads better on the colour (WCAG relative luminance)."""

    def channel(pair: str) -> float:
        c = int(pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(hex6[i : i + 2]) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000" if luminance > 0.179 else "#fff"


def _ref_linker(tracker: Tracker, texts: list[str]) -> Callable[[TicketRef], str | None]:
    """A `link_for` for `render_with_links` that links only refs to tickets that exist,
    looked up for all of `texts` in two queries whatever they name (at most REFS_LOOKED_UP
    distinct refs; any beyond stay plain text)."""
    base_url = app_settings().base_url
    wanted: set[tuple[str, int]] = set()
    for text in texts:
        for ref in find_ticket_refs(text, base_url=base_url):
            if len(wanted) < REFS_LOOKED_UP:
                wanted.add((ref.tracker or tracker.name, ref.number))
    existing = existing_tickets(db_session(), tracker, wanted, current_actor())

    def link_for(ref: TicketRef) -> str | None:
        key = (ref.tracker or tracker.name, ref.number)
        if key not in existing:
            return None
        return url_for("trackers.ticket_page", name=key[0], number=key[1])

    return link_for


def _render_text(text: str, link_for: Callable[[TicketRef], str | None]) -> Markup:
    """Mail text for a <pre>, as `web.render.render_body` draws it (escaped, quoted lines
    set apart, http(s) URLs linked), with ticket refs linked too."""
    base_url = app_settings().base_url

    def render_run(run: str) -> Markup:
        return link_pieces(render_with_links(run, link_for, base_url=base_url))

    return render_body(text, render_run)


def _event_raws(events: list[TicketEvent]) -> dict[int, bytes]:
    """The mails the events came by, in one query (the column is deferred)."""
    ids = [e.id for e in events if e.kind in (EventKind.opened, EventKind.comment)]
    if not ids:
        return {}
    rows = db_session().execute(
        select(TicketEvent.id, TicketEvent.raw).where(
            TicketEvent.id.in_(ids), TicketEvent.raw.is_not(None)
        )
    )
    return {event_id: raw for event_id, raw in rows if raw is not None}


def _event_view(
    event: TicketEvent, link_for: Callable[[TicketRef], str | None], raw: bytes | None = None
) -> EventView:
    data = event.data if isinstance(event.data, dict) else {}
    authenticity = data.get("authenticity")
    body = None
    if event.kind in (EventKind.opened, EventKind.comment, EventKind.reference) and event.text:
        body = _render_text(event.text, link_for)
    return EventView(
        event=event,
        body=body,
        authenticity=str(authenticity) if authenticity else None,
        data=data,
        attachments=list_attachments(raw) if raw else [],
    )
