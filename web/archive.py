"""The archive blueprint: public-inbox's URL scheme over Mailyard's lists.

`b4` and `lei` speak this scheme, so it is kept as public-inbox has it:

    /                          the lists
    /<list>/                   threads, newest activity first (?t= pages); ?q= searches
    POST /<list>/?q=..&x=m     matching messages as gzipped mboxrd (&t=1: whole threads)
    /<list>/new.atom           the newest messages
    /<list>/<msgid>/           a message, with its thread's outline
    /<list>/<msgid>/raw        the message exactly as received
    /<list>/<msgid>/<N>-<name> its attachment N, as a download (`web.attachments`)
    /<list>/<msgid>/t.mbox.gz  its thread as gzipped mboxrd
    /<list>/<msgid>/T/ and t/  its thread in full, flat by date or nested

`/all/` answers the same over every list the reader may browse. A list someone may not
browse answers 404 exactly as one that does not exist, everywhere: `/all/` leaves its
messages out (a message cross-posted to it and to a public list shows through the public
list only), and no page names it. A Message-ID in a path is escaped as
`web.mid` describes; `/<list>/<msgid>` without the slash redirects (301), which is how
b4 0.12 finds the list a message lives in.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn
from urllib.parse import quote

from flask import Blueprint, Response, abort, g, redirect, render_template, request
from sqlalchemy.orm import Session

from archive import queries
from archive.headers import find_first_header, unfold
from archive.mbox import iter_gzip, mboxrd_entry
from archive.models import MailingList, Message, ThreadNode
from archive.removal import removed_anywhere
from archive.search import SearchQueryError, search_messages
from core.db import new_session
from core.params import parse_time
from core.settings import Settings
from lists.access import VisibleLists, visible_lists
from web.attachments import attachment_response, list_attachments
from web.context import (
    app_settings,
    arg_label,
    current_actor,
    db_session,
    int_arg,
    list_or_404,
    optional_int_arg,
)
from web.mid import (
    ATTACHMENT,
    FLAT,
    MESSAGE,
    NESTED,
    RAW,
    THREAD_MBOX,
    message_path,
    mid_escape,
)
from web.render import (
    ReplyInstructions,
    render_body,
    reply_instructions,
    shorten,
    to_filename,
    visible_controls,
)

bp = Blueprint("archive", __name__)

ALL = "all"
LISTS_PER_PAGE = 200
THREADS_PER_PAGE = 50
RESULTS_PER_PAGE = 200  # public-inbox's search page size
# Paging deeper than this through search results is refused: FTS5 would read every
# match before the offset.
SEARCH_OFFSET_MAX = 100_000
MESSAGES_PER_PAGE = 200  # of a thread shown in full (T/ and t/)
ATOM_ENTRIES = 25
# A search answered as mbox streams every match, in batches, up to this many messages.
MBOX_BATCH = 1000
MBOX_RESULTS_MAX = 10_000
MAX_DEPTH_CLASS = 12  # deeper replies are drawn at this indentation

# A Content-Type value, RFC 2045: type/subtype, then "; name=value" parameters (a token
# or a quoted string), each part followed by optional (comments).
_TOKEN_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_COMMENTS = r"(?:\([^()\r\n]*\)[ \t]*)*"
_MEDIA_TYPE = re.compile(rf"[ \t]*{_TOKEN_CHARS}/{_TOKEN_CHARS}[ \t]*{_COMMENTS}")
_PARAMETER = re.compile(
    rf';[ \t]*(?:({_TOKEN_CHARS})[ \t]*=[ \t]*("[^"\\\r\n]*"|{_TOKEN_CHARS})[ \t]*{_COMMENTS})?'
)
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]+")
# Charsets (by Python codec name) in which every byte below 0x80 is that ASCII character
# and no escape sequence switches meaning: what /raw may be labelled with.
_ASCII_SAFE_CODECS = frozenset(
    {"utf-8", "ascii", "koi8-r", "koi8-u", "gb2312", "gbk", "gb18030", "big5", "big5hkscs"}
    | {"shift_jis", "cp932", "euc_jp", "euc_kr", "cp949", "tis-620", "cp874"}
    | {f"iso8859-{n}" for n in range(1, 17)}
    | {f"cp125{n}" for n in range(9)}
)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Scope:
    """What the first path segment names: one list, or every list the reader may browse
    (`/all/`)."""

    name: str
    mlist: MailingList | None
    list_ids: list[int] | None  # the lists it covers; None: every list there is


# -- pages ------------------------------------------------------------------------------


@bp.get("/")
def index():
    after = request.args.get("after") or None
    visible = reader_lists()
    listed = None if visible.every and visible.listed == visible.browsable else visible.listed
    rows = queries.list_page(db_session(), after, LISTS_PER_PAGE + 1, listed)
    more = len(rows) > LISTS_PER_PAGE
    rows = rows[:LISTS_PER_PAGE]
    return render_template(
        "index.html",
        lists=rows,
        next_after=rows[-1].name if more else None,
        after=after,
    )


@bp.get("/<name>")
def list_without_slash(name: str):
    return _redirect(f"{quote(_scope(name).name)}/")


@bp.route("/<name>/", methods=["GET", "POST"])
def list_index(name: str):
    scope = _scope(name)
    query = request.args.get("q")
    if request.method == "POST":
        if query is None or not query.strip():
            abort(404, "a POST here needs a search: ?q=QUERY&x=m")
        # t=1 as b4 and lei send it; like public-inbox's Perl, "" and "0" mean no.
        threads = request.args.get("t", "") not in ("", "0")
        return _search_mbox(scope, query, threads)
    if query is not None and query.strip():
        return _search_page(scope, query)
    return _thread_listing(scope)


@bp.get("/<name>/new.atom")
def atom(name: str):
    scope = _scope(name)
    session = db_session()
    pks = queries.latest_message_pks(session, scope.list_ids, ATOM_ENTRIES)
    rows = queries.message_summaries(session, pks, scope.list_ids)
    bodies = queries.message_bodies(session, pks)
    feed = _atom_feed(scope, rows, bodies, app_settings().base_url.rstrip("/"))
    return Response(feed, content_type="application/atom+xml; charset=utf-8")


@bp.route("/<name>/<msgpath:_rest>", methods=["GET", "POST"])
def message_views(name: str, _rest: str):
    path = message_path(request.environ, request.path)
    if path is not None and path.canonical and path.view == RAW and request.method != "POST":
        return _raw(name, path.msgid)  # the hottest URL: as few queries as can be
    scope = _scope(name)
    if path is None:
        abort(404, "no Message-ID in this address")
    if request.method == "POST":
        abort(405)
    if not path.canonical:
        _find(scope, path.msgid)  # unknown ids get a 404, not a redirect (b4 relies on it)
        return _redirect(f"{quote(scope.name)}/{mid_escape(path.msgid)}/{path.view}")
    if path.view == THREAD_MBOX:
        return _thread_mbox(scope, path.msgid)
    if path.view in (FLAT, NESTED):
        return _thread_page(scope, path.msgid, flat=path.view == FLAT)
    if path.view == ATTACHMENT:
        return _attachment(scope, path.msgid, path.part)
    assert path.view == MESSAGE
    return _message_page(scope, path.msgid)


# -- views --------------------------------------------------------------------------------


def _thread_listing(scope: Scope):
    before = _keyset(request.args)
    threads = queries.recent_threads(db_session(), scope.list_ids, before, THREADS_PER_PAGE + 1)
    more = len(threads) > THREADS_PER_PAGE
    threads = threads[:THREADS_PER_PAGE]
    older = None
    if more:
        last = threads[-1]
        older = {
            "t": last.last_activity.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "i": last.id,
        }
    return render_template(
        "list.html",
        scope=scope,
        threads=threads,
        older=older,
        paged=before is not None,
    )


def _search_page(scope: Scope, query: str):
    session = db_session()
    offset = int_arg("o", maximum=SEARCH_OFFSET_MAX)
    try:
        pks = search_messages(session, scope.list_ids, query, offset, RESULTS_PER_PAGE + 1)
    except SearchQueryError as e:
        return render_template(
            "search.html",
            scope=scope,
            query=query,
            error=str(e),
            results=[],
            offset=offset,
            more=False,
        ), 400
    more = len(pks) > RESULTS_PER_PAGE
    results = queries.message_summaries(session, pks[:RESULTS_PER_PAGE], scope.list_ids)
    return render_template(
        "search.html",
        scope=scope,
        query=query,
        error=None,
        results=results,
        offset=offset,
        more=more,
        page_size=RESULTS_PER_PAGE,
    )


def _search_mbox(scope: Scope, query: str, threads: bool) -> Response:
    """What b4 and lei POST for: every match as gzipped mboxrd, newest first, or with
    `threads` every message of the matching threads; 404 when nothing matches, as
    public-inbox answers and both tools expect."""
    session = db_session()
    list_ids = scope.list_ids  # None: every list, and no filter
    try:
        first = search_messages(session, list_ids, query, 0, MBOX_BATCH)
    except SearchQueryError as e:
        abort(400, str(e))
    if not first:
        abort(404, "No results found")
    scope_ids = scope.list_ids

    def batches(s: Session) -> Iterator[list[int]]:
        seen: set[int] = set()
        pks, offset = first, 0
        while pks:
            found = queries.expand_to_threads(s, pks, scope_ids) if threads else pks
            batch = [pk for pk in found if pk not in seen][: MBOX_RESULTS_MAX - len(seen)]
            seen.update(batch)
            yield batch
            offset += len(pks)
            if len(pks) < MBOX_BATCH or len(seen) >= MBOX_RESULTS_MAX:
                return
            pks = search_messages(s, list_ids, query, offset, MBOX_BATCH)

    prefix = "results-thread-" if threads else "results-"
    return _mbox_response(batches, to_filename(prefix + query, "results"))


def _raw(name: str, msgid: str) -> Response:
    """The stored bytes, unchanged, as text/plain (never HTML, so they cannot run)."""
    scope = _scope(name)  # a 404 for a list the reader may not browse
    found = queries.raw_message(db_session(), scope.list_ids, msgid)
    if found is None:
        _not_found(scope, msgid)
    raw, subject = found
    response = Response(raw, content_type=f"text/plain; charset={_charset_of(raw)}")
    response.headers["Content-Disposition"] = f"inline; filename={to_filename(subject)}.txt"
    return response


def _attachment(scope: Scope, msgid: str, part: str) -> Response:
    """/<list>/<msgid>/<N>-<filename>: attachment N as a download (the name is ignored,
    as public-inbox ignores it)."""
    found = queries.raw_message(db_session(), scope.list_ids, msgid)
    if found is None:
        _not_found(scope, msgid)
    return attachment_response(found[0], part, f"The message <{msgid}>")


def _thread_mbox(scope: Scope, msgid: str) -> Response:
    node, _ = _find(scope, msgid)
    pks = queries.thread_message_pks(db_session(), node.thread_id, node)
    subject = node.message.subject if node.message else ""
    return _mbox_response(lambda _s: iter([pks]), to_filename(subject))


def _message_page(scope: Scope, msgid: str):
    node, list_name = _find(scope, msgid)
    message = node.message
    assert message is not None  # _find finds the nodes of received messages only
    entries = queries.thread_entries(db_session(), node)
    dated = queries.date_order(entries)
    position = next((i for i, e in enumerate(dated) if e.node.id == node.id), 0)
    previous = dated[position - 1].message if position > 0 else None
    following = dated[position + 1].message if position + 1 < len(dated) else None
    # Different messages sent with this one Message-ID are all shown, as public-inbox
    # does; each is also at the generated id it is stored under.
    others = queries.namesakes(db_session(), node.list_id, msgid, message.id)
    return render_template(
        "message.html",
        scope=scope,
        list_name=list_name,
        message=message,
        body=render_body(message.body or ""),
        attachments=list_attachments(message.raw or b""),
        namesakes=[(other, render_body(other.body or "")) for other in others],
        entries=entries,
        current=node.id,
        previous=previous,
        following=following,
    )


def _thread_page(scope: Scope, msgid: str, flat: bool):
    node, list_name = _find(scope, msgid)
    session = db_session()
    entries = queries.thread_entries(session, node)
    shown = queries.date_order(entries) if flat else entries
    offset = int_arg("o")
    page = shown[offset : offset + MESSAGES_PER_PAGE]
    bodies = queries.message_bodies(session, [e.message.id for e in page if e.message])
    rendered = {pk: render_body(text) for pk, text in bodies.items()}
    return render_template(
        "thread.html",
        scope=scope,
        list_name=list_name,
        root=node,
        flat=flat,
        page=page,
        bodies=rendered,
        offset=offset,
        total=len(shown),
        page_size=MESSAGES_PER_PAGE,
        current=node.id,
        subject=node.message.subject if node.message else "",
    )


# -- helpers -----------------------------------------------------------------------------


def reader_lists() -> VisibleLists:
    """The lists this request's reader may browse, worked out once per request."""
    if "visible_lists" not in g:
        g.visible_lists = visible_lists(db_session(), current_actor())
    return g.visible_lists


def _scope(name: str) -> Scope:
    if name == ALL:
        return Scope(ALL, None, reader_lists().sql_filter())
    mlist = list_or_404(name)
    return Scope(mlist.name, mlist, [mlist.id])


def _find(scope: Scope, msgid: str) -> tuple[ThreadNode, str]:
    """The message's node in the scope and its list's name, or a 404 that says so."""
    session = db_session()
    if scope.mlist is None:
        found = queries.find_node_anywhere(session, msgid, scope.list_ids)
        if found is not None:
            return found
    else:
        node = queries.find_node(session, scope.mlist.id, msgid)
        if node is not None:
            return node, scope.mlist.name
    _not_found(scope, msgid)


def _not_found(scope: Scope, msgid: str) -> NoReturn:
    """404 naming where the message was looked for, or 410 Gone with the operator's
    reason when it was removed (`mailyard message rm`)."""
    where = "any list" if scope.mlist is None else f"the list {scope.name}"
    removed = removed_anywhere(db_session(), msgid, scope.list_ids)
    if removed is not None:
        page = render_template(
            "error.html",
            code=410,
            title="Message removed",
            message=f"The message <{msgid}> was removed from this archive on"
            f" {removed.removed_at:%Y-%m-%d}: {removed.reason}",
        )
        abort(Response(page, 410, content_type="text/html; charset=utf-8"))
    elsewhere = []
    if scope.mlist is not None:
        # Only lists the reader may browse: a private list's name is no one else's business.
        others = reader_lists().sql_filter()
        elsewhere = queries.lists_having(db_session(), msgid, others)
    page = render_template(
        "error.html",
        code=404,
        title="Message not found",
        message=f"No message with Message-ID <{msgid}> is archived in {where}.",
        elsewhere=[(n, msgid) for n in elsewhere],
    )
    abort(Response(page, 404, content_type="text/html; charset=utf-8"))


def _redirect(path: str):
    """A 301 to an absolute URL under this application: b4 0.12 builds its next URL from
    the Location header, so it must be absolute. The query string goes along."""
    location = request.root_url + path
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    return redirect(location, 301)


def _mbox_response(batches: Callable[[Session], Iterator[list[int]]], filename: str) -> Response:
    settings = app_settings()
    response = Response(_gzip_mboxrd(settings, batches), content_type="application/gzip")
    response.headers["Content-Disposition"] = f"inline; filename={filename}.mbox.gz"
    return response


def _gzip_mboxrd(settings: Settings, batches: Callable[[Session], Iterator[list[int]]]):
    """The messages of `batches` as one gzipped mboxrd stream, produced while it is sent.
    It runs after the request has ended, so it uses a session of its own."""
    session = new_session(settings)
    try:
        entries = (
            mboxrd_entry(raw)
            for pks in batches(session)
            for raw in queries.raw_messages(session, pks)
        )
        yield from iter_gzip(entries)
    finally:
        session.close()


def _charset_of(raw: bytes) -> str:
    """The charset /raw is labelled with: the top-level Content-Type's, as public-inbox
    labels it, when that header is well formed (the parser's header block, one type,
    parameters that parse, one charset) and the charset is one in which every ASCII
    byte means itself, so no markup can hide in what a browser decodes (UTF-7, UTF-16,
    ISO-2022 and HZ are not served); UTF-8 otherwise."""
    value = find_first_header(raw[: 1 << 16], b"content-type")
    if value is None or not value.isascii():
        return "utf-8"
    charset = _declared_charset(unfold(value.decode("ascii")))
    if charset is None:
        return "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return "utf-8"
    return charset.lower() if codec in _ASCII_SAFE_CODECS else "utf-8"


def _declared_charset(content_type: str) -> str | None:
    """The charset parameter of a well-formed Content-Type value; None when there is
    none, or when the value does not parse (then no parameter of it is trusted)."""
    match = _MEDIA_TYPE.match(content_type)
    if match is None:
        return None
    position, charsets = match.end(), []
    while position < len(content_type):
        param = _PARAMETER.match(content_type, position)
        if param is None:
            return None
        if (param.group(1) or "").lower() == "charset":
            charsets.append(param.group(2).strip('"'))
        position = param.end()
    return charsets[0] if len(charsets) == 1 and _TOKEN.fullmatch(charsets[0]) else None


def _keyset(args) -> tuple[datetime, int | None] | None:
    """The page of a thread listing: ?t= (public-inbox's YYYYMMDDhhmmss, or ISO 8601,
    UTC) or ?before=, with ?i= the id of the last thread shown to break ties."""
    name = "t" if args.get("t") else "before"
    value = args.get(name)
    if not value:
        return None
    return parse_time(arg_label(name), value), optional_int_arg("i")


def _atom_feed(
    scope: Scope, rows: list[queries.MessageSummary], bodies: dict[int, str], base: str
) -> bytes:
    """An Atom feed of the messages, built with ElementTree so it is always well formed;
    links use MAILYARD_BASE_URL, since feeds are read away from this site."""
    ns = "http://www.w3.org/2005/Atom"
    feed = ET.Element("feed", xmlns=ns)
    title = "all lists" if scope.mlist is None else scope.name
    ET.SubElement(feed, "title").text = f"{title} archive"
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=f"{base}/{scope.name}/")
    ET.SubElement(feed, "link", rel="self", href=f"{base}/{scope.name}/new.atom")
    ET.SubElement(feed, "id").text = f"{base}/{scope.name}/"
    newest = max((m.received_at for m in rows), default=datetime(1970, 1, 1, tzinfo=UTC))
    ET.SubElement(feed, "updated").text = _rfc3339(newest)
    for message in rows:
        entry = ET.SubElement(feed, "entry")
        author = ET.SubElement(entry, "author")
        ET.SubElement(author, "name").text = _xml_text(message.from_name or message.from_addr)
        if message.from_addr:
            ET.SubElement(author, "email").text = _xml_text(message.from_addr)
        ET.SubElement(entry, "title").text = _xml_text(message.subject or "(no subject)")
        ET.SubElement(entry, "updated").text = _rfc3339(message.sort_date)
        url = f"{base}/{message.list_name}/{mid_escape(message.message_id)}/"
        ET.SubElement(entry, "link", href=url)
        digest = hashlib.sha1(message.message_id.encode("utf-8", "replace")).digest()
        ET.SubElement(entry, "id").text = f"urn:uuid:{uuid.UUID(bytes=digest[:16])}"
        content = ET.SubElement(entry, "content", type="text")
        content.text = _xml_text(bodies.get(message.id, ""))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _xml_text(text: str) -> str:
    """Text XML 1.0 can carry: control characters and lone surrogates removed."""
    return _XML_INVALID.sub("", text)


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- template helpers -----------------------------------------------------------------


@bp.app_template_global()
def msg_url(scope_name: str, msgid: str, view: str = "") -> str:
    """Path of a message view, the Message-ID escaped as public-inbox does."""
    return f"{request.script_root}/{quote(scope_name)}/{mid_escape(msgid)}/{view}"


@bp.app_template_global()
def depth_class(depth: int) -> str:
    return f"d{min(depth, MAX_DEPTH_CLASS)}"


@bp.app_template_filter("when")
def format_when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("author")
def format_author(message: Message | queries.MessageSummary | None) -> str:
    if message is None:
        return ""
    return message.from_name or message.from_addr or "(unknown sender)"


@bp.app_template_filter("visible")
def format_visible(value: str | None) -> str:
    """Mail text with its control characters drawn visibly (`web.render`); escaping is
    still Jinja's."""
    return visible_controls(value or "")


@bp.app_template_filter("shorten")
def format_shorten(value: str | None, limit: int) -> str:
    return shorten(value or "", limit)


@bp.app_template_filter("filesize")
def format_filesize(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


@bp.app_template_global()
def reply_for(message: Message) -> ReplyInstructions:
    return reply_instructions(
        message.message_id, message.from_addr, message.to_text, message.cc_text, message.subject
    )
