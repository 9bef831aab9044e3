"""Sending a series from a repository's web pages, as `git send-email` or `b4 send` would.

`prepare` turns a range of a hosted repository into the mails (`git format-patch`, then
`patchsets.series_mail`); the web shows them, and `send` sends exactly those: to a list
or tracker here through intake (`mail.local_intake`: archived, grouped and fanned out as
any post), to everyone else through the outbox and the relay, DKIM-signed. The copy sent
out is From the user only when this instance may send for their domain
(`mail.on_behalf`); the copy intake gets is From their confirmed address, proven by their
web session. A later version of the same branch answers the previous one, with git's
range-diff against it, as `b4 send` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.sender_auth import Proof
from accounts.users import primary_address_of
from archive.models import MailingList
from core.db import utcnow
from core.errors import UserError
from core.settings import Settings
from mail.addresses import AddressRefused, list_addresses, normalize_address
from mail.dkim_sign import dkim_signer, sign_message
from mail.local_intake import deliver_locally, is_local_address
from mail.on_behalf import noreply_address, on_behalf_of
from mail.outbox import send_on_commit
from mail.policy import Decision, Outcome
from patchsets.models import SentSeries
from patchsets.repositories import lists_of_repository
from patchsets.series_mail import (
    Addressing,
    add_note,
    address_mail,
    author_of,
    fill_cover,
    message_ids,
)
from repos.commits import CommitInfo, has_commit
from repos.format_patch import FormattedMail, format_patches, series_commits
from repos.models import Repository
from repos.storage import path_of

PURPOSE = "series-sent-from-web"
MAX_RECIPIENTS = 20


class SeriesRefused(UserError):
    """The series cannot be prepared or sent as asked; the message says what to change."""


@dataclass(frozen=True)
class SeriesDraft:
    """What the form asks for."""

    base: str  # a revision: the commit the series applies to
    tip: str  # a revision: its last commit, usually the branch
    branch: str = ""  # names the series (Message-IDs, the next version)
    version: int = 1
    prefix: str = "PATCH"
    cover_subject: str = ""
    cover_body: str = ""
    notes: dict[str, str] = field(default_factory=dict)  # commit sha -> below its `---`
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutgoingMail:
    commit: str | None  # None for the cover letter
    subject: str
    message_id: str
    formatted: bytes  # as `git format-patch` printed it
    sent: bytes  # what recipients elsewhere get
    delivered_here: bytes  # what lists and trackers here get: From the user


@dataclass(frozen=True)
class PreparedSeries:
    draft: SeriesDraft
    base_sha: str
    tip_sha: str
    commits: list[CommitInfo]
    mails: list[OutgoingMail]
    previous: SentSeries | None
    from_header: str  # of the copy sent elsewhere
    rewritten_from: bool  # From is "NAME via Mailyard": the author is kept in the body

    @property
    def recipients(self) -> list[str]:
        return [*self.draft.to, *self.draft.cc]


@dataclass(frozen=True)
class SentResult:
    record: SentSeries
    here: list[tuple[str, Decision]]  # lists and trackers here, as intake answered
    relayed: list[str]  # recipients elsewhere, queued for the relay


def default_recipients(session: Session, settings: Settings, repository: Repository) -> list[str]:
    """The posting addresses of the lists linked to the repository."""
    ids = lists_of_repository(session, repository.id)
    names = session.scalars(select(MailingList.name).where(MailingList.id.in_(ids)))
    return [list_addresses(name, settings.domain).posting for name in names]


def previous_series(
    session: Session, user: User, repository: Repository, branch: str
) -> SentSeries | None:
    """The last version this user sent of this branch of the repository."""
    return session.scalars(
        select(SentSeries)
        .where(
            SentSeries.user_id == user.id,
            SentSeries.repository_id == repository.id,
            SentSeries.branch == branch,
        )
        .order_by(SentSeries.id.desc())
        .limit(1)
    ).first()


def prepare(
    session: Session,
    settings: Settings,
    user: User,
    repository: Repository,
    draft: SeriesDraft,
) -> PreparedSeries:
    """The mails `send` will send for `draft`; SeriesRefused says what to change."""
    address = primary_address_of(session, user)
    if address is None:
        raise SeriesRefused("confirm an address on /account first: the series is sent as you")
    draft = _checked(draft)
    path = path_of(settings, repository)
    commits = series_commits(path, draft.base, draft.tip)
    base_sha, tip_sha = str(commits[0].parents[0]), commits[-1].sha
    branch = draft.branch or draft.tip
    previous = previous_series(session, user, repository, branch)
    if previous is not None and draft.version <= previous.version:
        raise SeriesRefused(
            f"v{previous.version} of {branch} was sent on {previous.sent_at:%Y-%m-%d}: "
            f"send this one as v{previous.version + 1}"
        )
    range_diff = None
    kept = previous is not None and all(
        has_commit(path, sha) for sha in (previous.base_sha, previous.tip_sha)
    )
    if previous is not None and kept:
        range_diff = f"{previous.base_sha}..{previous.tip_sha}"
    cover = len(commits) > 1 or bool(draft.cover_subject.strip())
    if cover and not draft.cover_subject.strip():
        raise SeriesRefused("a series of several patches needs a cover letter subject")
    formatted = format_patches(
        path,
        base_sha,
        tip_sha,
        version=draft.version,
        prefix=draft.prefix,
        cover_letter=cover,
        range_diff=range_diff,
        sender=(user.username, address),
    )
    sender = on_behalf_of(settings, user.username, address)
    own = formataddr((user.username, address))
    ids = message_ids(
        len(formatted) + (0 if cover else 1),
        day=utcnow().strftime("%Y%m%d"),
        branch=branch,
        version=draft.version,
        key=f"{repository.id}:{user.id}:{base_sha}:{tip_sha}:{draft.version}",
        domain=settings.domain,
    )
    if not cover:
        ids = ids[1:]  # K counts from 1 without a cover letter, as in b4
    thread_root = ids[0]
    answered = (
        f"<{previous.message_ids[0]}>" if previous is not None and previous.message_ids else None
    )
    sent_from = address if sender.own_address else noreply_address(settings)
    now = utcnow()
    mails = []
    for k, (mail, message_id) in enumerate(zip(formatted, ids, strict=True)):
        text = _filled(mail, draft)
        threading = _Threading(
            message_id=message_id,
            in_reply_to=answered if k == 0 else thread_root,
            references=[r for r in (answered, thread_root if k else None) if r],
            date=format_datetime(now + timedelta(seconds=k)),  # in order, as send-email does
        )
        mails.append(
            OutgoingMail(
                commit=mail.commit,
                subject=_subject_of(text),
                message_id=message_id,
                formatted=mail.raw,
                sent=_addressed(
                    text, mail, draft, threading, (sender.from_header, sent_from), sender.reply_to
                ),
                delivered_here=_addressed(text, mail, draft, threading, (own, address), None),
            )
        )
    return PreparedSeries(
        draft=draft,
        base_sha=base_sha,
        tip_sha=tip_sha,
        commits=commits,
        mails=mails,
        previous=previous,
        from_header=sender.from_header,
        rewritten_from=not sender.own_address,
    )


def send(
    session: Session,
    settings: Settings,
    user: User,
    repository: Repository,
    prepared: PreparedSeries,
) -> SentResult:
    """Send what `prepare` made, in the caller's transaction (the caller commits): the
    copies here are stored with it, the others queued; a record for the next version."""
    address = primary_address_of(session, user) or ""
    if session.scalars(
        select(SentSeries.id).where(
            SentSeries.repository_id == repository.id,
            SentSeries.user_id == user.id,
            SentSeries.tip_sha == prepared.tip_sha,
            SentSeries.version == prepared.draft.version,
        )
    ).first():
        raise SeriesRefused(f"v{prepared.draft.version} of this range was sent already")
    here = [r for r in prepared.recipients if is_local_address(settings, r)]
    elsewhere = [r for r in prepared.recipients if r not in here]
    signer = dkim_signer(settings)
    answers: list[tuple[str, Decision]] = []
    for mail in prepared.mails:
        if here:
            decisions = deliver_locally(
                session,
                settings,
                mail.delivered_here,
                sender=address,
                recipients=here,
                proven_by=Proof.web.value,
            )
            if mail is prepared.mails[0]:
                answers = list(zip(here, decisions, strict=True))
            refused = [
                (r, d) for r, d in zip(here, decisions, strict=True) if d.outcome is Outcome.REJECT
            ]
            if refused:
                raise SeriesRefused(f"{refused[0][0]} refused the series: {refused[0][1].detail}")
        if elsewhere:
            raw = sign_message(mail.sent, signer) if signer is not None else mail.sent
            # A bounce comes back to the user, who sent it.
            send_on_commit(
                session, envelope_from=address, recipients=elsewhere, raw=raw, purpose=PURPOSE
            )
    cover = prepared.mails[0]
    record = SentSeries(
        user_id=user.id,
        repository_id=repository.id,
        branch=prepared.draft.branch or prepared.draft.tip,
        base_sha=prepared.base_sha,
        tip_sha=prepared.tip_sha,
        version=prepared.draft.version,
        prefix=prepared.draft.prefix,
        subject=cover.subject,
        to_addrs=list(prepared.draft.to),
        cc_addrs=list(prepared.draft.cc),
        message_ids=[m.message_id.strip("<>") for m in prepared.mails],
        previous_id=prepared.previous.id if prepared.previous is not None else None,
    )
    session.add(record)
    session.flush()
    return SentResult(record, answers, elsewhere)


def _checked(draft: SeriesDraft) -> SeriesDraft:
    if not 1 <= draft.version <= 99:
        raise SeriesRefused("the version is a number from 1 to 99")
    prefix = " ".join(draft.prefix.split()) or "PATCH"
    if len(prefix) > 60 or any(c in prefix for c in "[]\r\n"):
        raise SeriesRefused("the prefix is a few words without brackets, such as PATCH or RFC")
    if "\n" in draft.cover_subject or len(draft.cover_subject) > 200:
        raise SeriesRefused("the cover letter subject is one line of at most 200 characters")
    to = _addresses(draft.to, "To")
    cc = tuple(a for a in _addresses(draft.cc, "Cc") if a not in to)
    if not to:
        raise SeriesRefused("the series needs a recipient: the list's address, usually")
    if len(to) + len(cc) > MAX_RECIPIENTS:
        raise SeriesRefused(f"at most {MAX_RECIPIENTS} recipients")
    return SeriesDraft(
        base=draft.base.strip(),
        tip=draft.tip.strip(),
        branch=draft.branch.strip(),
        version=draft.version,
        prefix=prefix,
        cover_subject=draft.cover_subject.strip(),
        cover_body=draft.cover_body.replace("\r\n", "\n"),
        notes={k: v.replace("\r\n", "\n") for k, v in draft.notes.items() if v.strip()},
        to=to,
        cc=cc,
    )


def _addresses(values: Sequence[str], field_name: str) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        for part in value.replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                address = normalize_address(part.strip().strip("<>"))
            except AddressRefused as e:
                raise SeriesRefused(f"{field_name}: {e}") from None
            if address not in found:
                found.append(address)
    return tuple(found)


@dataclass(frozen=True)
class _Threading:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    date: str


def _addressed(
    text: bytes,
    mail: FormattedMail,
    draft: SeriesDraft,
    threading: _Threading,
    sender: tuple[str, str],
    reply_to: str | None,
) -> bytes:
    """`text` with the headers it is sent with; `sender` is (From header, its address)."""
    from_header, from_address = sender
    author = author_of(text)[1].lower()
    return address_mail(
        text,
        Addressing(from_header, draft.to, draft.cc, reply_to),
        message_id=threading.message_id,
        in_reply_to=threading.in_reply_to,
        references=threading.references,
        date=threading.date,
        in_body_from=mail.commit is not None and author != from_address.lower(),
    )


def _filled(mail: FormattedMail, draft: SeriesDraft) -> bytes:
    if mail.commit is None:
        return fill_cover(mail.raw, draft.cover_subject, draft.cover_body)
    return add_note(mail.raw, draft.notes.get(mail.commit, ""))


def _subject_of(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return " ".join(str(headers.get("Subject", "")).split())


__all__ = [
    "OutgoingMail",
    "PreparedSeries",
    "SentResult",
    "SeriesDraft",
    "SeriesRefused",
    "default_recipients",
    "prepare",
    "previous_series",
    "send",
]
