"""Apply a patchset to a linked repository, for the web's button and `mailyard patchset
apply`: who may, what is applied (the served mbox: collected trailers and `Link:`), and
what follows.

`repos.apply` does the git work and keeps its promise (the branch moves by fast-forward
in one step, or nothing changes). Here: the applier needs `write` on the repository and
`moderate` on the list; every try is kept as an `ApplyAttempt`, which is what the
patchset page and the report page show. A real apply is recorded as a push by the
applier (`PushVia.web`), so the push hooks run on it as on any `git push`; its commits are
noted as the patchset's (`MatchMethod.applied`), the patchset becomes `applied` (unless
the series went to a review branch), and an "applied, thanks" reply in `b4 ty`'s words
can go to the thread through the outbox. A dry run (`check`) needs only `browse` and is
also made in the background when a patchset arrives (`patchsets.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.access import Actor
from accounts.models import User
from accounts.users import primary_address_of
from archive.models import MailingList, Message
from core.db import after_commit
from core.errors import UserError
from core.settings import Settings
from lists.access import ListRight
from lists.access import may as may_on_list
from mail.addresses import list_addresses
from mail.compose import reply_to
from mail.on_behalf import on_behalf_of
from patchsets.models import (
    ApplyAttempt,
    ApplyOutcome,
    MatchMethod,
    PatchCommit,
    Patchset,
    PatchsetStatus,
)
from patchsets.queries import current_patches, series_mbox
from patchsets.repositories import linked_repositories, patchset_repository
from patchsets.status import change_status
from patchsets.subject import parse_subject
from repos.access import RepoRight
from repos.access import may as may_on_repo
from repos.apply import ApplyRequest, ApplyResult, ApplyStatus, Identity, apply_mbox
from repos.models import PushVia, Repository
from repos.pushes import RefChange, record_push
from repos.repositories import parse_repo_path, visible_repository
from repos.storage import path_of
from repos.tasks import enqueue_hooks
from repos.urls import commit_url

MAILYARD_IDENTITY = Identity("Mailyard", "mailyard@localhost")


class ApplyRefused(UserError):
    """The apply was not tried: no repository, no right, nothing to apply."""


@dataclass(frozen=True)
class ApplyOptions:
    """What the maintainer chose (the CLI's flags, the web form's fields)."""

    repository: str | None = None  # ~owner/name; default: the patchset's repository
    branch: str | None = None  # default: the repository's default branch
    base: str | None = None  # a revision to apply on; default: base-commit or the head
    signoff: bool = False
    link: bool = True  # keep the `Link:` trailer to the archive
    review_branch: bool = False  # to `review/<patchset id>` instead of the branch
    thanks: bool = False  # reply "applied, thanks" to the thread
    dry_run: bool = False


def apply_patchset(
    session: Session,
    settings: Settings,
    mlist: MailingList,
    patchset: Patchset,
    actor: Actor,
    options: ApplyOptions,
) -> ApplyAttempt:
    """Try to apply `patchset` (see the module); the attempt, whatever its outcome. Raises
    ApplyRefused when it cannot be tried at all. The caller commits."""
    repository = _target_repository(session, settings, patchset, actor, options.repository)
    if not may_on_list(session, mlist, actor, ListRight.browse):
        raise ApplyRefused(f"no patchset {patchset.id} in {mlist.name}")
    if not options.dry_run and not may_apply(session, mlist, repository, actor):
        raise ApplyRefused(
            f"applying needs the right to write to {repository.path_name} and to "
            f"moderate {mlist.name}"
        )
    patches = current_patches(patchset)
    if not patches:
        raise ApplyRefused("this patchset holds no patch to apply")
    mbox = b"".join(
        series_mbox(session, patchset, mlist.name, settings.base_url, link=options.link)
    )
    branch = options.branch or repository.default_branch
    request = ApplyRequest(
        mbox=mbox,
        branch=branch,
        committer=_identity(session, actor),
        base=options.base,
        base_commit=patchset.base_commit,
        new_branch=f"review/{patchset.id}" if options.review_branch else None,
        signoff=options.signoff,
        dry_run=options.dry_run,
    )
    result = apply_mbox(path_of(settings, repository), request)
    attempt = _record_attempt(session, patchset, repository, actor, result, options)
    if result.status is ApplyStatus.applied:
        _after_apply(session, settings, mlist, patchset, repository, actor, result, options)
    return attempt


def may_apply(session: Session, mlist: MailingList, repository: Repository, actor: Actor) -> bool:
    """Applying takes `write` on the repository and `moderate` on the list."""
    return may_on_repo(session, repository, actor, RepoRight.write) and may_on_list(
        session, mlist, actor, ListRight.moderate
    )


def check_patchset(
    session: Session, settings: Settings, mlist: MailingList, patchset: Patchset
) -> ApplyAttempt | None:
    """The background dry run: whether the patchset applies to its repository's default
    branch now. None when the list has no repository or the patchset no patch."""
    system = Actor(is_admin=True)
    if patchset_repository(session, settings, patchset, system) is None or not current_patches(
        patchset
    ):
        return None
    return apply_patchset(session, settings, mlist, patchset, system, ApplyOptions(dry_run=True))


def patchsets_to_check(session: Session, patchsets: list[Patchset]) -> list[int]:
    """Of patchsets just filed or grown, those worth a background dry run: complete, on a
    list with a repository, and not checked since their last patch came."""
    complete = [p for p in patchsets if p.received_all and p.patch_count]
    if not complete:
        return []
    with_repository = {
        list_id
        for list_id in {p.list_id for p in complete}
        if linked_repositories(session, list_id)
    }
    candidates = [p for p in complete if p.list_id in with_repository]
    if not candidates:
        return []
    checked = dict(
        session.execute(
            select(ApplyAttempt.patchset_first_message_id, func.max(ApplyAttempt.created_at))
            .where(
                ApplyAttempt.patchset_first_message_id.in_([p.first_message_id for p in candidates])
            )
            .group_by(ApplyAttempt.patchset_first_message_id)
        ).all()
    )
    return [
        p.id
        for p in candidates
        if p.first_message_id not in checked
        or (
            p.last_activity is not None
            and _aware(checked[p.first_message_id]) < _aware(p.last_activity)
        )
    ]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def latest_attempt(session: Session, patchset: Patchset) -> ApplyAttempt | None:
    """The newest try at applying the patchset: what its page shows."""
    return session.scalar(
        select(ApplyAttempt)
        .where(ApplyAttempt.patchset_first_message_id == patchset.first_message_id)
        .order_by(ApplyAttempt.id.desc())
        .limit(1)
    )


def get_attempt(session: Session, patchset: Patchset, attempt_id: int) -> ApplyAttempt | None:
    attempt = session.get(ApplyAttempt, attempt_id)
    if attempt is None or attempt.patchset_first_message_id != patchset.first_message_id:
        return None
    return attempt


def attempt_summary(attempt: ApplyAttempt, repository: Repository, total: int) -> str:
    """One line saying how an attempt went (the CLI prints it; the web shows it)."""
    where = f"{repository.path_name} {attempt.branch}"
    report = attempt.report or {}
    commits = report.get("commits") or []
    outcome = attempt.outcome
    if outcome is ApplyOutcome.applied:
        span = f"{attempt.old_sha[:12]}..{attempt.new_sha[:12]}"
        return f"applied to {where}: {span} ({len(commits)} commits)"
    if outcome is ApplyOutcome.clean:
        return f"applies cleanly to {where} at {attempt.base_sha[:12]}"
    if outcome is ApplyOutcome.conflict:
        which = f"patch {attempt.failed_position}/{total}" if attempt.failed_position else "a patch"
        subject = report.get("subject", "")
        return f"does not apply to {where} at {attempt.base_sha[:12]}: {which} {subject!r} failed"
    if outcome is ApplyOutcome.busy:
        return f"{where} moved while applying: try again"
    return f"could not be applied to {where}: {report.get('note', '')}"


def attempt_details(attempt: ApplyAttempt) -> list[str]:
    """The lines under the summary: the note, the new commits, or what did not apply
    (file, then each rejected hunk) and git am's words."""
    report = attempt.report or {}
    lines = [report["note"]] if report.get("note") else []
    if attempt.outcome in (ApplyOutcome.applied, ApplyOutcome.clean):
        lines += [f"commit {sha}" for sha in report.get("commits", [])]
    for failed in report.get("files", []):
        lines.append(f"did not apply: {failed['path']}")
        for hunk in failed.get("hunks", []):
            lines += [f"  {line}" for line in hunk.splitlines()]
    if report.get("message"):
        lines.append("git am said:")
        lines += [f"  {line}" for line in report["message"].splitlines()]
    return lines


def _target_repository(
    session: Session, settings: Settings, patchset: Patchset, actor: Actor, named: str | None
) -> Repository:
    if named:
        owner, name = parse_repo_path(named)
        repository = visible_repository(session, actor, owner, name)
        if repository is None:
            raise ApplyRefused(f"no repository ~{owner}/{name}")
        return repository
    chosen = patchset_repository(session, settings, patchset, actor)
    if chosen is None:
        raise ApplyRefused(
            "no repository is linked to the list (mailyard list set LIST --repo ~OWNER/NAME), "
            "or none you may read"
        )
    return chosen.repository


def _identity(session: Session, actor: Actor) -> Identity:
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        return MAILYARD_IDENTITY
    return Identity(user.username, primary_address_of(session, user) or MAILYARD_IDENTITY.email)


def _record_attempt(
    session: Session,
    patchset: Patchset,
    repository: Repository,
    actor: Actor,
    result: ApplyResult,
    options: ApplyOptions,
) -> ApplyAttempt:
    failure = result.failure
    report: dict = {"note": result.note, "commits": result.commits}
    if failure is not None:
        patches = current_patches(patchset)
        failed = (
            patches[failure.position - 1]
            if failure.position and failure.position <= len(patches)
            else None
        )
        report.update(
            message=failure.message,
            subject=failure.subject,
            message_id=failed.message_id if failed else "",
            files=[{"path": f.path, "hunks": f.hunks} for f in result.files],
        )
    attempt = ApplyAttempt(
        patchset_first_message_id=patchset.first_message_id,
        repository_id=repository.id,
        dry_run=options.dry_run,
        branch=result.branch,
        base_sha=result.base_sha,
        outcome=ApplyOutcome(result.status.value),
        failed_position=_series_position(patchset, failure.position if failure else None),
        report=report,
        old_sha=result.old_sha,
        new_sha=result.new_sha,
        actor_user_id=actor.user_id,
    )
    session.add(attempt)
    session.flush()
    return attempt


def _series_position(patchset: Patchset, mbox_position: int | None) -> int | None:
    """The failing patch's position in the series (n of [PATCH n/m]) from its place in
    the mbox, which holds only the current patches, in order."""
    patches = current_patches(patchset)
    if mbox_position is None or not 1 <= mbox_position <= len(patches):
        return None
    return patches[mbox_position - 1].position


def _after_apply(
    session: Session,
    settings: Settings,
    mlist: MailingList,
    patchset: Patchset,
    repository: Repository,
    actor: Actor,
    result: ApplyResult,
    options: ApplyOptions,
) -> None:
    change = RefChange(ref=f"refs/heads/{result.branch}", old=result.old_sha, new=result.new_sha)
    push = record_push(session, repository, [change], pusher_id=actor.user_id, via=PushVia.web)
    after_commit(session, _enqueue_push_hooks, push.id)
    patches = current_patches(patchset)
    for patch, sha in zip(patches, result.commits, strict=False):
        session.add(
            PatchCommit(
                message_pk=patch.message_pk,
                repository_id=repository.id,
                commit_sha=sha,
                method=MatchMethod.applied,
                push_id=push.id,
            )
        )
    if not options.review_branch:
        change_status(
            session,
            mlist,
            patchset,
            PatchsetStatus.applied,
            actor=actor,
            via="apply",
            note=f"{repository.path_name} {result.branch} {commit_range(result)}",
        )
    if options.thanks:
        _send_thanks(session, settings, mlist, patchset, repository, actor, result)
    session.flush()


def commit_range(result: ApplyResult) -> str:
    return f"{result.old_sha[:12]}..{result.new_sha[:12]}"


def _enqueue_push_hooks(push_ids: list) -> None:
    for push_id in push_ids:
        enqueue_hooks(push_id)


def thanks_text(
    *,
    sent_date: str,
    sender: str,
    quoted: list[str],
    tree: str,
    branch: str,
    applied: list[tuple[str, str]],
    signature: str,
) -> str:
    """An "applied, thanks" reply in `b4 ty`'s words (pure): `applied` is the
    `(subject, commit link)` of each patch, in order."""
    total = len(applied)
    lines = [f"On {sent_date}, {sender} wrote:", *(f"> {q}".rstrip() for q in quoted), ""]
    lines += [f"Applied to {tree} ({branch}), thanks!", ""]
    for number, (subject, link) in enumerate(applied, start=1):
        label = f"[{number}/{total}] " if total > 1 else ""
        lines += [f"{label}{subject}", f"      commit: {link}"]
    lines += ["", "Best regards,", "-- ", signature, ""]
    return "\n".join(lines)


def _send_thanks(
    session: Session,
    settings: Settings,
    mlist: MailingList,
    patchset: Patchset,
    repository: Repository,
    actor: Actor,
    result: ApplyResult,
) -> None:
    answered = session.get(
        Message, patchset.cover_message_pk or current_patches(patchset)[0].message_pk
    )
    if answered is None or not patchset.submitter_addr:
        return
    who = _identity(session, actor)
    subjects = [p.message.subject for p in current_patches(patchset)]
    applied = [
        (_without_prefix(subject), commit_url(settings, repository, sha))
        for subject, sha in zip(subjects, result.commits, strict=False)
    ]
    body = thanks_text(
        sent_date=answered.date.strftime("%a, %d %b %Y %H:%M:%S %z") if answered.date else "",
        sender=patchset.submitter_name or patchset.submitter_addr,
        quoted=(answered.body or "").splitlines()[:4]
        if patchset.cover_message_pk
        else [_without_prefix(answered.subject)],
        tree=repository.path_name,
        branch=result.branch,
        applied=applied,
        signature=who.name,
    )
    list_address = list_addresses(mlist.name, settings.domain).posting
    sender = on_behalf_of(settings, who.name, who.email)  # the applier's, by the rule
    reply_to(
        session,
        answered,
        to=patchset.submitter_addr,
        cc=[list_address],
        from_addr=sender.from_header,
        extra_headers={"Reply-To": sender.reply_to} if sender.reply_to else None,
        body=body,
        envelope_from="",
        purpose="patchset-applied-thanks",
        domain=settings.domain,
    )


def _without_prefix(subject: str) -> str:
    return parse_subject(subject).name
