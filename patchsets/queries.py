"""Read-only queries behind patchset pages and downloads: listings, one patchset with its
versions, the trailers collected for each patch, and the git-am-ready mbox.

Which reply a trailer applies to is decided here, from the thread as it is now: the
nearest patch or cover letter above the reply. A reply that arrived before its patch
therefore counts as soon as the patch is in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session, selectinload

from archive import queries as archive_queries
from archive.models import MailingList, Message, ThreadNode
from patchsets.classify import MailKind
from patchsets.mbox import commit_message_end, patch_mail
from patchsets.models import (
    ClassifiedMessage,
    GivenTrailer,
    Patchset,
    PatchsetEvent,
    PatchsetPatch,
    PatchsetStatus,
)
from patchsets.series import patchset_containing
from patchsets.trailers import Trailer, commit_trailers, mismatched


@dataclass(frozen=True)
class CollectedTrailer:
    trailer: Trailer
    source: str  # 'reply' (to the patch) or 'cover' (to the cover letter: every patch)
    message_id: str  # the reply that gave it
    from_addr: str
    mismatch: bool  # the trailer names another address than the reply's sender


@dataclass
class PatchTrailers:
    body: list[Trailer] = field(default_factory=list)  # in the commit message as sent
    given: list[CollectedTrailer] = field(default_factory=list)  # from replies

    def to_apply(self) -> list[Trailer]:
        """What `git am` gets added: given trailers not already in the message, minus
        mismatches (shown, never applied silently)."""
        present = {(t.name.lower(), t.value) for t in self.body}
        out: list[Trailer] = []
        for item in self.given:
            key = (item.trailer.name.lower(), item.trailer.value)
            if not item.mismatch and key not in present:
                present.add(key)
                out.append(item.trailer)
        return out


def get_patchset(session: Session, patchset_id: int, list_name: str) -> Patchset | None:
    return session.scalars(
        select(Patchset)
        .join(MailingList, MailingList.id == Patchset.list_id)
        .where(Patchset.id == patchset_id, MailingList.name == list_name)
        .options(selectinload(Patchset.patches).joinedload(PatchsetPatch.message))
    ).first()


def patchsets_page(
    session: Session,
    list_id: int,
    *,
    status: PatchsetStatus | None = None,
    submitter: str | None = None,
    tag: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Patchset]:
    """Newest first, keyset-paginated by id (ids grow with arrival)."""
    query = select(Patchset).where(Patchset.list_id == list_id)
    if status is not None:
        query = query.where(Patchset.status == status)
    if submitter:
        query = query.where(func.lower(Patchset.submitter_addr) == submitter.lower())
    if before_id is not None:
        query = query.where(Patchset.id < before_id)
    query = query.order_by(Patchset.id.desc())
    if not tag:
        return list(session.scalars(query.limit(limit)))
    wanted = tag.lower()
    out: list[Patchset] = []
    for patchset in session.scalars(query.execution_options(yield_per=200)):
        if _has_tag(patchset, wanted):
            out.append(patchset)
            if len(out) == limit:
                break
    return out


def _has_tag(patchset: Patchset, wanted: str) -> bool:
    words = {t.lower() for t in patchset.tags}
    words |= {"rfc"} if patchset.rfc else set()
    words |= {"resend"} if patchset.resend else set()
    words.add(f"v{patchset.version}")
    words |= {"pull"} if patchset.pull_url else set()
    return wanted in words


def version_history(session: Session, patchset: Patchset) -> list[Patchset]:
    """Every version of this series, oldest first (following previous/superseded links)."""
    chain = [patchset]
    seen = {patchset.id}
    current = patchset
    while current.previous_id is not None and current.previous_id not in seen:
        previous = session.get(Patchset, current.previous_id)
        if previous is None:
            break
        current = previous
        seen.add(current.id)
        chain.insert(0, current)
    current = patchset
    while True:
        newer = session.scalars(
            select(Patchset).where(Patchset.previous_id == current.id).order_by(Patchset.id)
        ).first()
        if newer is None or newer.id in seen:
            break
        seen.add(newer.id)
        chain.append(newer)
        current = newer
    return chain


def status_events(session: Session, patchset: Patchset) -> list[PatchsetEvent]:
    return list(
        session.scalars(
            select(PatchsetEvent)
            .where(PatchsetEvent.patchset_first_message_id == patchset.first_message_id)
            .order_by(PatchsetEvent.id)
        )
    )


def current_patches(patchset: Patchset) -> list[PatchsetPatch]:
    """The patches `git am` gets, in order: replaced ones (partial re-rolls) left out."""
    return sorted((p for p in patchset.patches if not p.replaced), key=lambda p: (p.position, p.id))


def patch_bodies(session: Session, message_pks: list[int]) -> dict[int, tuple[bytes, str]]:
    rows = session.execute(
        select(Message.id, Message.raw, Message.body).where(Message.id.in_(message_pks))
    )
    return {pk: (bytes(raw), body or "") for pk, raw, body in rows}


def collect_trailers(session: Session, patchset: Patchset) -> dict[int, PatchTrailers]:
    """For each patch (by message pk): the trailers in its commit message and those that
    replies to it, or to the cover letter, gave."""
    patches = current_patches(patchset)
    bodies = session.execute(
        select(Message.id, Message.body).where(Message.id.in_([p.message_pk for p in patches]))
    )
    result = {
        pk: PatchTrailers(body=commit_trailers(commit_message(body or ""))) for pk, body in bodies
    }
    members = {p.message_pk for p in patches}
    cover = patchset.cover_message_pk
    targets = members | ({cover} if cover is not None else set())
    for target, item in _given_trailers(session, patchset, targets):
        if target == cover:
            for pk in members:
                result.setdefault(pk, PatchTrailers()).given.append(item)
        elif target in result:
            result[target].given.append(item)
    for trailers in result.values():  # replies to the patch first, then to the cover
        trailers.given.sort(key=lambda item: item.source == "cover")
    return result


def commit_message(body: str) -> str:
    """The commit message part of a patch mail, as `git mailinfo` reads it: without the
    in-body `From:`/`Date:`/`Subject:` lines a sender who is not the author puts first,
    and up to the first `---` line or the diff."""
    lines = _without_inbody_headers(body[: commit_message_end(body)].split("\n"))
    return "\n".join(lines).rstrip("\n")


_INBODY_HEADER = re.compile(r"^(?:From|Date|Subject):", re.IGNORECASE)
# An in-body From names a person; a commit message may itself start with 'From: <url>'.
_INBODY_FROM = re.compile(r"^From:[^/]*@", re.IGNORECASE)


def inbody_author(body: str) -> str | None:
    """The author an in-body `From:` line names ('Name <addr>'), as `git am` takes it when
    the sender is not the author; None when there is none."""
    first = body.split("\n", 1)[0]
    return first[len("From:") :].strip() if _INBODY_FROM.match(first) else None


def _without_inbody_headers(lines: list[str]) -> list[str]:
    if not lines or not _INBODY_FROM.match(lines[0]):
        return lines
    i = 0
    while i < len(lines) and _INBODY_HEADER.match(lines[i]):
        i += 1
    if i and (i == len(lines) or not lines[i].strip()):
        return lines[i + 1 :]
    return lines


def _given_trailers(
    session: Session, patchset: Patchset, targets: set[int]
) -> Iterator[tuple[int, CollectedTrailer]]:
    if not targets:
        return
    thread_ids = select(ThreadNode.thread_id).where(
        ThreadNode.list_id == patchset.list_id, ThreadNode.message_pk.in_(targets)
    )
    nodes = session.execute(
        select(ThreadNode.id, ThreadNode.parent_id, ThreadNode.message_pk).where(
            ThreadNode.thread_id.in_(thread_ids.scalar_subquery())
        )
    ).all()
    if not nodes:
        return
    parent = {node_id: parent_id for node_id, parent_id, _ in nodes}
    pk_of = {node_id: pk for node_id, _, pk in nodes}
    pks = [pk for pk in pk_of.values() if pk is not None]
    submissions = submission_pks(session, pks)
    rows = session.execute(
        select(GivenTrailer, Message.message_id, Message.from_addr)
        .join(Message, Message.id == GivenTrailer.message_pk)
        .where(GivenTrailer.message_pk.in_(pks))
        .order_by(Message.date, Message.id, GivenTrailer.position)
    ).all()
    node_of = {pk: node_id for node_id, pk in pk_of.items() if pk is not None}
    for given, msgid, from_addr in rows:
        target = _nearest_submission(node_of[given.message_pk], parent, pk_of, submissions)
        if target not in targets:
            continue
        trailer = Trailer(given.name, given.value)
        yield (
            target,
            CollectedTrailer(
                trailer=trailer,
                source="cover" if target == patchset.cover_message_pk else "reply",
                message_id=msgid,
                from_addr=from_addr,
                mismatch=mismatched(trailer, from_addr),
            ),
        )


def submission_pks(session: Session, message_pks: list[int]) -> set[int]:
    """Which of these messages are patches or cover letters: what a reply answers."""
    return set(
        session.scalars(
            select(ClassifiedMessage.message_pk).where(
                ClassifiedMessage.message_pk.in_(message_pks),
                ClassifiedMessage.kind.in_([MailKind.patch, MailKind.cover]),
            )
        )
    )


def patchset_replies(
    session: Session, mlist: MailingList, patchset: Patchset, first: Message | None, limit: int
) -> list[archive_queries.ThreadEntry]:
    """This version's replies (reviews, answers), oldest first: the messages of the thread
    whose nearest patch or cover letter above them is one of this patchset's. Another
    version sent into the same thread, its patches and their replies are not this one's.
    The first `limit`."""
    if first is None:
        return []
    node = archive_queries.find_node(session, mlist.id, first.message_id)
    if node is None:
        return []
    own = {p.message_pk for p in patchset.patches} | {patchset.cover_message_pk} - {None}
    entries = archive_queries.thread_entries(session, node)  # tree order, with depths
    received = [e.message.id for e in entries if e.message is not None]
    submissions = submission_pks(session, received)
    replies = []
    above: list[tuple[int, bool]] = []  # (depth, whether that subtree answers this version)
    for entry in entries:
        while above and above[-1][0] >= entry.depth:
            above.pop()
        pk = entry.message.id if entry.message is not None else None
        if pk in own or pk in submissions:
            above.append((entry.depth, pk in own))
            continue
        answers_this = bool(above) and above[-1][1]
        above.append((entry.depth, answers_this))
        if answers_this and entry.message is not None:
            replies.append(entry)
    return archive_queries.date_order(replies)[:limit]


def _nearest_submission(node_id, parent, pk_of, submissions) -> int | None:
    seen = set()
    current = parent.get(node_id)
    while current is not None and current not in seen:
        seen.add(current)
        if pk_of.get(current) in submissions:
            return pk_of[current]
        current = parent.get(current)
    return None


def archive_link(base_url: str, list_name: str, message_id: str) -> str:
    return f"{base_url.rstrip('/')}/{list_name}/{quote(message_id, safe='@!$&()*+,;=:~')}/"


def series_mbox(
    session: Session,
    patchset: Patchset,
    list_name: str,
    base_url: str,
    only_position: int | None = None,
    *,
    link: bool = True,
) -> list[bytes]:
    """The patchset's patches as mbox entries, in order, ready for `git am`: collected
    trailers added and (unless `link` is False) a `Link:` to the archive.
    `only_position` picks one patch."""
    patches = current_patches(patchset)
    if only_position is not None:
        patches = [p for p in patches if p.position == only_position][:1]
    trailers = collect_trailers(session, patchset)
    contents = patch_bodies(session, [p.message_pk for p in patches])
    out = []
    for patch in patches:
        raw, body = contents[patch.message_pk]
        collected = trailers.get(patch.message_pk, PatchTrailers())
        added = collected.to_apply()
        if link:
            added.append(Trailer("Link", archive_link(base_url, list_name, patch.message_id)))
        out.append(patch_mail(raw, body, added))
    return out


def dependencies(session: Session, patchset: Patchset) -> list[Patchset]:
    """The patchsets this one says it needs (`Depends-on:` a Message-ID, a patch's or a
    patchset's URL), in the order given; only in the same list, never itself."""
    out: list[Patchset] = []
    for value in patchset.depends_on:
        found = _resolve_reference(session, patchset.list_id, value)
        if found is not None and found.id != patchset.id and found not in out:
            out.append(found)
    return out


def dependents(session: Session, patchset: Patchset) -> list[Patchset]:
    """The patchsets of the same list that depend on this one."""
    candidates = session.scalars(
        select(Patchset)
        .where(Patchset.list_id == patchset.list_id, Patchset.id != patchset.id)
        .where(cast(Patchset.depends_on, String) != "[]")  # few declare any
        .order_by(Patchset.id)
    )
    return [c for c in candidates if c.depends_on and patchset in dependencies(session, c)]


_PATCHSET_URL = re.compile(r"/patches/(\d+)(?:/|$)")


def _resolve_reference(session: Session, list_id: int, value: str) -> Patchset | None:
    """A Message-ID (with or without <>), or a URL of a patchset or of a message."""
    value = value.strip()
    if "://" in value:
        by_id = _PATCHSET_URL.search(value)
        if by_id:
            found = session.get(Patchset, int(by_id.group(1)))
            return found if found is not None and found.list_id == list_id else None
        segments = [s for s in urlsplit(value).path.split("/") if s]
        value = unquote(segments[-1]) if segments else ""
    msgid = value[1:-1] if value.startswith("<") and value.endswith(">") else value
    return patchset_containing(session, list_id, msgid) if msgid else None


def line_totals(session: Session, patchset_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(added, removed) over the current patches of each patchset, in one query."""
    if not patchset_ids:
        return {}
    rows = session.execute(
        select(
            PatchsetPatch.patchset_id,
            func.sum(ClassifiedMessage.lines_added),
            func.sum(ClassifiedMessage.lines_removed),
        )
        .join(ClassifiedMessage, ClassifiedMessage.message_pk == PatchsetPatch.message_pk)
        .where(PatchsetPatch.patchset_id.in_(patchset_ids), PatchsetPatch.replaced.is_(False))
        .group_by(PatchsetPatch.patchset_id)
    )
    return {pid: (added or 0, removed or 0) for pid, added, removed in rows}


def messages_with_patch_id(patch_ids: Sequence[str]):
    """The `patchid:` search prefix: a select of the pks of patches with these ids."""
    return select(ClassifiedMessage.message_pk).where(ClassifiedMessage.patch_id.in_(patch_ids))
