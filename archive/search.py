"""Full-text search behind one interface: SQLite FTS5 embedded, PostgreSQL at scale.

Both index the same fields of a message (subject, from, to, cc, body) so that
public-inbox's prefixes (`archive.search_query`) mean the same on either backend.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, not_, or_, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Session
from sqlalchemy.sql import column

from archive.hooks import PATCH_ID_MESSAGES
from archive.models import Message, MessageAlias, ThreadNode
from archive.search_query import (
    ALL_FIELDS,
    And,
    Node,
    Not,
    Or,
    SearchQuery,
    SearchQueryError,
    Term,
    first_excluded,
    only_negative,
    parse_query,
)

__all__ = [
    "SearchQueryError",
    "clear_index",
    "index_message",
    "search_messages",
    "unindex_message",
]

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


def unindex_message(session: Session, message: Message) -> None:
    """Remove `message` from the search index (before its row is deleted: a contentless
    FTS5 table forgets a row only when told the values it indexed)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(
                "INSERT INTO message_fts(message_fts, rowid, subject, from_text, to_text,"
                " cc_text, body) VALUES ('delete', :pk, :subject, :from_text, :to_text,"
                " :cc_text, :body)"
            ),
            {"pk": message.id, **_fields(message)},
        )
    else:
        session.execute(
            text("DELETE FROM message_search WHERE message_pk = :pk"), {"pk": message.id}
        )


def clear_index(session: Session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO message_fts(message_fts) VALUES ('delete-all')"))
    else:
        session.execute(text("DELETE FROM message_search"))


def search_messages(
    session: Session,
    list_ids: list[int] | None,
    query: str | SearchQuery,
    offset: int = 0,
    limit: int = 50,
) -> list[int]:
    """Message pks in `list_ids` matching `query`, newest (last received) first. None
    searches every list (the web passes the lists the reader may browse, or None when
    that is every list)."""
    parsed = parse_query(query) if isinstance(query, str) else query
    if parsed.is_empty:
        return []
    in_list = ThreadNode.message_pk == Message.id
    if list_ids is not None:
        in_list = and_(in_list, ThreadNode.list_id.in_(list_ids))
    stmt = select(Message.id).where(exists().where(in_list))
    if parsed.message_ids:
        # Also the messages that answer to an id as an alias: a different message sent
        # with it, or a second Message-ID header.
        aliased = select(MessageAlias.message_pk).where(
            MessageAlias.message_id.in_(parsed.message_ids)
        )
        stmt = stmt.where(or_(Message.message_id.in_(parsed.message_ids), Message.id.in_(aliased)))
    if parsed.patch_ids:
        (patch_id_messages,) = PATCH_ID_MESSAGES
        stmt = stmt.where(Message.id.in_(patch_id_messages(parsed.patch_ids)))
    if parsed.date_from is not None:
        stmt = stmt.where(Message.date >= parsed.date_from)
    if parsed.date_to is not None:
        stmt = stmt.where(Message.date < parsed.date_to)
    stmt = stmt.order_by(Message.id.desc())
    if parsed.text is None:
        return list(session.scalars(stmt.offset(offset).limit(limit)))
    if session.get_bind().dialect.name == "sqlite":
        return _search_fts5(session, stmt, parsed.text, offset, limit)
    return list(session.scalars(stmt.where(_pg_condition(parsed.text)).offset(offset).limit(limit)))


# FTS5 yields matches newest first and stops early; each chunk of candidates is then
# checked against the lists and filters. Most matches pass, so one chunk usually does;
# when filters reject many (a date range, another list), the chunks grow.
FTS_CHUNK = 400


def _search_fts5(session: Session, stmt, node: Node, offset: int, limit: int) -> list[int]:
    if only_negative(node):
        # FTS5 has no unary NOT: exclude whatever matches the excluded terms.
        positive = Or([n.operand if isinstance(n, Not) else n for n in _operands(node)])
        excluded = text("SELECT rowid FROM message_fts WHERE message_fts MATCH :fts")
        stmt = stmt.where(~Message.id.in_(excluded.bindparams(fts=fts5_expression(positive))))
        return list(session.scalars(stmt.offset(offset).limit(limit)))
    expression = fts5_expression(node)
    wanted = offset + limit
    found: list[int] = []
    below = None
    chunk = FTS_CHUNK
    while len(found) < wanted:
        candidates = list(
            session.scalars(
                text(
                    "SELECT rowid FROM message_fts WHERE message_fts MATCH :fts"
                    + (" AND rowid < :below" if below is not None else "")
                    + " ORDER BY rowid DESC LIMIT :chunk"
                ).bindparams(fts=expression, chunk=chunk, **({"below": below} if below else {}))
            )
        )
        if not candidates:
            break
        found += session.scalars(stmt.where(Message.id.in_(candidates)))
        below = candidates[-1]
        if len(candidates) < chunk:
            break
        chunk *= 4  # filters rejected many: take bigger steps
    return found[offset:wanted]


def _operands(node: Node) -> list[Node]:
    return node.operands if isinstance(node, (And, Or)) else [node]


def fts5_expression(node: Node) -> str:
    """An FTS5 MATCH expression: each term a quoted phrase limited to its columns.

    FTS5's NOT is binary ("a NOT b"), so the excluded terms of a group follow its
    included ones; a group of excluded terms only, or one inside an OR, cannot be said.
    """
    if isinstance(node, Term):
        phrase = '"' + node.text.replace('"', '""') + '"'
        if node.columns != ALL_FIELDS:
            phrase = "{" + " ".join(node.columns) + "} : " + phrase
        return phrase
    if isinstance(node, Or):
        excluded_in_or = next((o for o in node.operands if isinstance(o, Not)), None)
        if excluded_in_or is not None:
            raise SearchQueryError(
                f"the NOT at character {excluded_in_or.at} cannot stand directly inside OR;"
                " put it in parentheses with a term it excludes from"
            )
        return "(" + " OR ".join(fts5_expression(o) for o in node.operands) + ")"
    if isinstance(node, And):
        included = [o for o in node.operands if not isinstance(o, Not)]
        excluded = [o.operand for o in node.operands if isinstance(o, Not)]
        if not included:
            raise SearchQueryError(
                "a group needs at least one term that is not excluded (the one at character"
                f" {first_excluded(node).at} is excluded)"
            )
        out = " AND ".join(fts5_expression(o) for o in included)
        for o in excluded:
            out += " NOT " + fts5_expression(o)
        return "(" + out + ")"
    raise SearchQueryError(
        "a search needs at least one term that is not excluded (the one at character"
        f" {first_excluded(node).at} is excluded)"
    )


def _pg_condition(node: Node):
    columns = ("subject", "from_text", "to_text", "cc_text", "body", "all_text")
    idx = sql_table("message_search", column("message_pk"), *[column(c, TSVECTOR) for c in columns])

    def compile_node(n: Node):
        if isinstance(n, Term):
            tsq = func.phraseto_tsquery("english", n.text)
            cols = ("all_text",) if n.columns == ALL_FIELDS else n.columns
            match = or_(*[idx.c[c].op("@@")(tsq) for c in cols])
            # IN, not a correlated EXISTS: PostgreSQL then scans the GIN index once and
            # hash-joins, instead of testing tsvectors message by message.
            return Message.id.in_(select(idx.c.message_pk).where(match))
        if isinstance(n, Not):
            return not_(compile_node(n.operand))
        parts = [compile_node(o) for o in n.operands]
        return and_(*parts) if isinstance(n, And) else or_(*parts)

    return compile_node(node)
