"""Ticket trackers' pages: the trackers, a tracker's tickets, one ticket, and the two
forms that write (a comment, a new ticket).

    /trackers/                               every tracker and its address (?after= pages)
    /<tracker>/tickets/                      tickets, recently updated first (?status= ?label=
                                             ?assignee= ?submitter= ?q= filter,
                                             ?before=<iso>,<id> pages)
    /<tracker>/tickets/style.css             label colours as classes, the forms' layout
    /<tracker>/tickets/<n>/                  one ticket and its history (?after=<event> pages)
    POST /<tracker>/tickets/<n>/comment      comment (signed in, CSRF-checked)
    /<tracker>/tickets/new                   the new-ticket form, pre-filled by ?title=
                                             and ?description= (links carrying a trace)
    POST /<tracker>/tickets/new              open the ticket (signed in, CSRF-checked)

Tickets are opened and discussed by mail first; the pages say which address to write to.
Descriptions and comments are mail text, shown escaped; the only markup added is ours:
links for http(s) URLs and for refs (`#N`, `NAME#N`, ticket URLs) to tickets that exist.
The CSP forbids inline styles, so label colours come from a generated stylesheet of
classes named after each (validated) colour rather than from `style=` attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from sqlalchemy import select

from trackers.commands import Status
from trackers.mentions import TicketRef, find_ticket_refs, render_with_links
from trackers.models import EventKind, Ticket, TicketEvent, Tracker
from trackers.tickets import (
    Origin,
    TicketFilter,
    add_comment,
    get_ticket,
    get_tracker,
    open_ticket,
    ticket_events,
    tickets_page,
    tracker_labels,
)
from web.app import app_settings, db_session
from web.auth import check_csrf, current_address, is_owner
from web.render import linkify, render_body

bp = Blueprint("trackers", __name__)

TRACKERS_PER_PAGE = 200
TICKETS_PER_PAGE = 50
EVENTS_PER_PAGE = 200
TEXT_MAX = 100_000  # characters of a comment or description sent from the web
ID_MAX = 2**63 - 1  # larger numbers in a URL cannot name a row (and overflow PostgreSQL)
REFS_LOOKED_UP = 500  # distinct ticket refs per page checked for a ticket to link to
MAILTO_BODY_MAX = 1500  # longer pre-filled descriptions are left out of the mailto link

OPEN, ALL = "open", "all"
_COLOR = re.compile(r"^#[0-9a-f]{6}$")
# Text boxes as wide as the page on any screen, in the monospace the text is shown in.
FORM_CSS = """form.comment textarea, form.ticket-new textarea, form.ticket-new input[type=text] {
  width: 100%; padding: .3rem .4rem; font: 14px/1.4 ui-monospace, SFMono-Regular, Menlo,
  Consolas, monospace; }
a.tag { text-decoration: none; }
"""


@dataclass
class EventView:
    """One entry of a ticket's history, its text already rendered."""

    event: TicketEvent
    body: Markup | None  # the description or comment; None for one-line changes
    authenticity: str | None = None
    data: dict = field(default_factory=dict)


# -- pages ------------------------------------------------------------------------------


@bp.get("/trackers/")
def index():
    after = request.args.get("after", "").strip().lower()
    query = select(Tracker).order_by(Tracker.name).limit(TRACKERS_PER_PAGE + 1)
    if after:
        query = query.where(Tracker.name > after)
    rows = list(db_session().scalars(query))
    more = len(rows) > TRACKERS_PER_PAGE
    rows = rows[:TRACKERS_PER_PAGE]
    return render_template(
        "trackers.html",
        trackers=rows,
        domain=app_settings().domain,
        next_after=rows[-1].name if more else None,
        paged=bool(after),
    )


@bp.get("/<name>/tickets/")
def listing(name: str):
    tracker = _tracker_or_404(name)
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
    domain = app_settings().domain
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
        address=f"{tracker.name}@{domain}",
    )


@bp.get("/<name>/tickets/style.css")
def stylesheet(name: str):
    """The tracker's label colours, one class per colour: the CSP allows our own
    stylesheets but no inline styles. Also the ticket forms' layout."""
    tracker = _tracker_or_404(name)
    colors = sorted(set(_label_classes(tracker_labels(db_session(), tracker.id)).values()))
    rules = [
        f".tag.{cls} {{ background: #{cls[3:]}; color: {_text_color(cls[3:])};"
        f" border-color: #{cls[3:]}; }}"
        for cls in colors
    ]
    response = Response(FORM_CSS + "\n".join(rules) + "\n", content_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/<name>/tickets/<int(max=2147483647):number>/")
def ticket_page(name: str, number: int):
    tracker, ticket = _ticket_or_404(name, number)
    after = min(max(request.args.get("after", 0, type=int), 0), ID_MAX)
    session = db_session()
    events = list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.id > after)
            .order_by(TicketEvent.id)
            .limit(EVENTS_PER_PAGE + 1)
        )
    )
    more = len(events) > EVENTS_PER_PAGE
    events = events[:EVENTS_PER_PAGE]
    link_for = _ref_linker(tracker, [e.text for e in events if e.text])
    domain = app_settings().domain
    subject = f"Re: [{tracker.name}#{ticket.number}] {ticket.title}"
    return render_template(
        "ticket.html",
        tracker=tracker,
        ticket=ticket,
        events=[_event_view(e, link_for) for e in events],
        label_classes=_label_classes(tracker_labels(session, tracker.id)),
        later=events[-1].id if more else None,
        paged=after > 0,
        reply_mailto=f"mailto:{tracker.name}+{ticket.number}@{domain}?"
        + urlencode({"subject": subject}, quote_via=quote),
        reply_address=f"{tracker.name}+{ticket.number}@{domain}",
    )


@bp.post("/<name>/tickets/<int(max=2147483647):number>/comment")
def comment(name: str, number: int):
    """Signed-in people only (403 before anything else is looked at)."""
    actor = current_address()
    if actor is None:
        abort(403, "Sign in to comment on a ticket, or reply to it by mail.")
    check_csrf()
    tracker, ticket = _ticket_or_404(name, number)
    text = _form_text("text")
    if not text.strip():
        abort(400, "The comment is empty; write something to post.")
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    event = add_comment(session, ticket, text, origin)
    _notify(tracker, ticket, event, origin)
    session.commit()
    url = url_for("trackers.ticket_page", name=tracker.name, number=ticket.number)
    return redirect(f"{url}#e{event.id}", 303)


@bp.get("/<name>/tickets/new")
def new_form(name: str):
    tracker = _tracker_or_404(name)
    title = request.args.get("title", "")
    description = request.args.get("description", "")
    domain = app_settings().domain
    mail = {"subject": title} if title else {}
    if description and len(description) <= MAILTO_BODY_MAX:
        mail["body"] = description
    mailto = f"mailto:{tracker.name}@{domain}"
    if mail:
        mailto += "?" + urlencode(mail, quote_via=quote)
    return render_template(
        "ticket_new.html",
        tracker=tracker,
        title=title,
        description=description,
        address=f"{tracker.name}@{domain}",
        mailto=mailto,
    )


@bp.post("/<name>/tickets/new")
def new_ticket(name: str):
    actor = current_address()
    if actor is None:
        abort(403, "Sign in to open a ticket on the web, or send it by mail.")
    check_csrf()
    tracker = _tracker_or_404(name)
    title = _form_text("title").strip()
    if not title:
        abort(400, "A ticket needs a title.")
    description = _form_text("description")
    session = db_session()
    origin = Origin(address=actor, authenticated="web")
    ticket = open_ticket(session, tracker, title, description, origin)
    _notify(tracker, ticket, ticket_events(session, ticket)[0], origin)
    session.commit()
    return redirect(url_for("trackers.ticket_page", name=tracker.name, number=ticket.number), 303)


# -- helpers -----------------------------------------------------------------------------


@bp.get("/<name>/tickets/export.json.gz")
def export(name: str):
    """The tracker's signed export (`trackers.export`), for its owner: the same file as
    `mailyard tracker export`."""
    tracker = _tracker_or_404(name)
    if not is_owner(tracker):
        abort(403, f"Only the owner of {tracker.name} may export it; sign in as the owner.")
    import io

    from trackers.export import export_tracker, write_export

    buffer = io.BytesIO()
    write_export(export_tracker(db_session(), app_settings(), tracker), buffer)
    return Response(
        buffer.getvalue(),
        mimetype="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{tracker.name}.json.gz"'},
    )


def _tracker_or_404(name: str) -> Tracker:
    tracker = get_tracker(db_session(), name)
    if tracker is None:
        abort(404, f"There is no tracker named {name!r} here.")
    return tracker


def _ticket_or_404(name: str, number: int) -> tuple[Tracker, Ticket]:
    tracker = _tracker_or_404(name)
    ticket = get_ticket(db_session(), tracker.id, number)
    if ticket is None:
        abort(404, f"There is no ticket {tracker.name}#{number}.")
    return tracker, ticket


def _notify(tracker: Tracker, ticket: Ticket, event: TicketEvent, origin: Origin) -> None:
    """Mail the ticket's people, in the transaction that made the event (outbox rows).

    Imported here so the read-only pages never depend on the mail machinery."""
    from trackers.notify import notify_ticket

    notify_ticket(db_session(), app_settings(), tracker, ticket, [event], origin)


def _form_text(key: str) -> str:
    """A form field with browsers' CRLF made LF; NULs and oversize text refused (400)."""
    text = request.form.get(key, "").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        abort(400, "NUL characters are not allowed in tickets.")
    if len(text) > TEXT_MAX:
        abort(400, f"That is too long for the web form ({TEXT_MAX} characters at most).")
    return text


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
    if not value.strip():
        return None
    when, _, ticket_id = value.strip().rpartition(",")
    try:
        parsed = datetime.fromisoformat(when)
        number = int(ticket_id)
        if not 0 < number <= ID_MAX:
            raise ValueError(number)
    except ValueError:
        abort(400, "The 'before' page marker is not valid; start again from the first page.")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), number


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
    existing: set[tuple[str, int]] = set()
    if wanted:
        session = db_session()
        names = dict(
            session.execute(
                select(Tracker.id, Tracker.name).where(Tracker.name.in_({n for n, _ in wanted}))
            ).all()
        )
        rows = session.execute(
            select(Ticket.tracker_id, Ticket.number).where(
                Ticket.tracker_id.in_(names), Ticket.number.in_({n for _, n in wanted})
            )
        )
        existing = {(names[t], n) for t, n in rows} & wanted

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
        html = []
        for segment, url in render_with_links(run, link_for, base_url=base_url):
            if url is None:
                html.append(str(linkify(segment)))
            else:
                html.append(f'<a href="{escape(url)}">{escape(segment)}</a>')
        return Markup("".join(html))

    return render_body(text, render_run)


def _event_view(event: TicketEvent, link_for: Callable[[TicketRef], str | None]) -> EventView:
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
    )
