"""Full-text search behind one interface: SQLite FTS5 embedded, PostgreSQL at scale.

Both index the same fields of a message (subject, from, to, cc, body) so that
public-inbox's prefixes (`archive.search_query`) mean the same on either backend.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, select, text
from sqlalchemy.orm import Session

from archive.models import Message, ThreadNode
from archive.search_query import ALL_FIELDS, SearchQuery, SearchQueryError, Term, parse_query

__all__ = ["SearchQueryError", "clear_index", "index_message", "search_messages"]

# PostgreSQL refuses tsvectors over 1 MB; a body longer than this is indexed in part.
PG_MAX_INDEXED = 200_000


def _fields(message: Message) -> dict[str, str]:
    sender = (
        f"{message.from_name} <{message.from_addr}>" if message.from_name else message.from_addr
    )
    return {
        "subject": message.subject,
        "from_text": sender,
        "to_text": message.to_text,
        "cc_text": message.cc_text,
        "body": message.body or "",
    }


def index_message(session: Session, message: Message) -> None:
    """Add (or replace) `message` in the search index; the caller commits."""
    fields = _fields(message)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(
                "INSERT INTO message_fts(rowid, subject, from_text, to_text, cc_text, body) "
                "VALUES (:pk, :subject, :from_text, :to_text, :cc_text, :body)"
            ),
            {"pk": message.id, **fields},
        )
        return
    fields["body"] = fields["body"][:PG_MAX_INDEXED]
    session.execute(
        text(
            "INSERT INTO message_search (message_pk, subject, from_text, to_text, cc_text, body,"
            " all_text) SELECT :pk, s, f, t, c, b, s || f || t || c || b FROM (SELECT"
            " to_tsvector('english', :subject) AS s, to_tsvector('english', :from_text) AS f,"
            " to_tsvector('english', :to_text) AS t, to_tsvector('english', :cc_text) AS c,"
            " to_tsvector('english', :body) AS b) v "
            "ON CONFLICT (message_pk) DO UPDATE SET subject = EXCLUDED.subject,"
            " from_text = EXCLUDED.from_text, to_text = EXCLUDED.to_text,"
            " cc_text = EXCLUDED.cc_text, body = EXCLUDED.body, all_text = EXCLUDED.all_text"
        ),
        {"pk": message.id, **fields},
    )


def clear_index(session: Session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO message_fts(message_fts) VALUES ('delete-all')"))
    else:
        session.execute(text("DELETE FROM message_search"))


def search_messages(
    session: Session,
    list_ids: list[int],
    query: str | SearchQuery,
    offset: int = 0,
    limit: int = 50,
) -> list[int]:
    """Message pks in `list_ids` matching `query`, newest first."""
    parsed = parse_query(query) if isinstance(query, str) else query
    if parsed.is_empty:
        return []
    in_lists = exists().where(
        and_(ThreadNode.message_pk == Message.id, ThreadNode.list_id.in_(list_ids))
    )
    stmt = select(Message.id).where(in_lists)
    if parsed.message_ids:
        stmt = stmt.where(Message.message_id.in_(parsed.message_ids))
    if parsed.date_from is not None:
        stmt = stmt.where(Message.date >= parsed.date_from)
    if parsed.date_to is not None:
        stmt = stmt.where(Message.date < parsed.date_to)
    if parsed.terms:
        if session.get_bind().dialect.name == "sqlite":
            stmt = stmt.where(_fts5_condition(parsed.terms))
        else:
            stmt = stmt.where(_pg_condition(parsed.terms))
    stmt = stmt.order_by(Message.date.desc(), Message.id.desc()).offset(offset).limit(limit)
    return list(session.scalars(stmt))


def _fts5_condition(terms: list[Term]):
    fts = text("SELECT rowid FROM message_fts WHERE message_fts MATCH :fts")
    if all(t.negated for t in terms):
        # FTS5 has no unary NOT: exclude whatever matches any of the terms.
        positive = [Term(t.text, t.columns, False, "OR") for t in terms]
        return ~Message.id.in_(fts.bindparams(fts=fts5_expression(positive)))
    return Message.id.in_(fts.bindparams(fts=fts5_expression(terms)))


def fts5_expression(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: each term a quoted phrase limited to its columns.

    FTS5's NOT is binary, so a leading excluded term is moved after the first one kept.
    """
    terms = sorted(terms, key=lambda t: t.negated)
    out: list[str] = []
    for term in terms:
        phrase = '"' + term.text.replace('"', '""') + '"'
        if term.columns != ALL_FIELDS:
            phrase = "{" + " ".join(term.columns) + "} : " + phrase
        if out:
            out.append("NOT" if term.negated else term.joiner)
        out.append(phrase)
    return " ".join(out)


def _pg_condition(terms: list[Term]):
    from sqlalchemy import func, not_, or_
    from sqlalchemy import table as sql_table
    from sqlalchemy.dialects.postgresql import TSVECTOR
    from sqlalchemy.sql import column

    columns = ("subject", "from_text", "to_text", "cc_text", "body", "all_text")
    idx = sql_table("message_search", column("message_pk"), *[column(c, TSVECTOR) for c in columns])
    expression = None
    for term in terms:
        tsq = func.phraseto_tsquery("english", term.text)
        cols = ("all_text",) if term.columns == ALL_FIELDS else term.columns
        match = or_(*[idx.c[c].op("@@")(tsq) for c in cols])
        cond = exists().where(and_(idx.c.message_pk == Message.id, match))
        if term.negated:
            cond = not_(cond)
        if expression is None:
            expression = cond
        elif term.joiner == "OR":
            expression = or_(expression, cond)
        else:
            expression = and_(expression, cond)
    return expression
