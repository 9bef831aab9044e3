"""Applying a patchset from its page (`patchsets.apply` decides; this only asks).

    POST /LIST/patches/ID/apply              apply (action=apply) or dry-run it
                                             (action=check); answers with the report
    GET  /LIST/patches/ID/apply/ATTEMPT      one attempt's report: the new commits, or
                                             the patch, files and hunks that did not
                                             apply with git am's words; the form again

Applying needs `write` on the repository and `moderate` on the list; a check needs only
to see the patchset. A refusal that is not about rights (no such repository) shows the
form again with what was typed.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from patchsets import queries
from patchsets.apply import (
    ApplyOptions,
    ApplyRefused,
    apply_patchset,
    attempt_summary,
    get_attempt,
    may_apply,
)
from patchsets.models import ApplyAttempt, Patchset
from patchsets.repositories import patchset_repository
from repos.models import Repository
from web.context import app_settings, check_csrf, current_actor, db_session, patchset_or_404
from web.forms import form_error

bp = Blueprint("patch_apply", __name__)


@bp.post("/<name>/patches/<id('patchset'):patchset_id>/apply")
def apply(name: str, patchset_id: int):
    actor = current_actor()
    if actor.anonymous:
        abort(403, "Sign in to apply a patchset.")
    check_csrf()
    mlist, patchset = patchset_or_404(name, patchset_id)
    form = request.form
    dry_run = form.get("action") == "check"
    options = ApplyOptions(
        repository=form.get("repo", "").strip() or None,
        branch=form.get("branch", "").strip() or None,
        base=form.get("base", "").strip() or None,
        signoff=form.get("signoff") == "yes",
        link=form.get("link") == "yes",
        review_branch=form.get("review_branch") == "yes",
        thanks=form.get("thanks") == "yes",
        dry_run=dry_run,
    )
    session = db_session()
    chosen = patchset_repository(session, app_settings(), patchset, actor)
    if not dry_run and chosen and not options.repository:
        if not may_apply(session, mlist, chosen.repository, actor):
            abort(403, f"Applying needs the right to write to {chosen.repository.path_name} "
                  f"and to moderate {mlist.name}.")  # fmt: skip
    try:
        attempt = apply_patchset(session, app_settings(), mlist, patchset, actor, options)
    except ApplyRefused as refused:
        session.rollback()
        return form_error(
            "patchset_apply.html", refused, field="repo", **_report_values(mlist, patchset, None)
        )
    session.commit()
    return redirect(
        url_for("patch_apply.report", name=mlist.name, patchset_id=patchset.id,
                attempt_id=attempt.id), 303,
    )  # fmt: skip


@bp.get("/<name>/patches/<id('patchset'):patchset_id>/apply/<id('attempt'):attempt_id>")
def report(name: str, patchset_id: int, attempt_id: int):
    mlist, patchset = patchset_or_404(name, patchset_id)
    attempt = get_attempt(db_session(), patchset, attempt_id)
    if attempt is None:
        abort(404, f"Patchset {patchset.id} has no apply attempt {attempt_id}.")
    return render_template("patchset_apply.html", **_report_values(mlist, patchset, attempt))


def apply_panel(mlist, patchset: Patchset, attempt: ApplyAttempt | None) -> dict:
    """What the patchset page and the report show of applying: the attempt, how it went
    in one line, the repository, and whether the visitor may press the button."""
    session = db_session()
    actor = current_actor()
    chosen = patchset_repository(session, app_settings(), patchset, actor)
    attempt_repository = session.get(Repository, attempt.repository_id) if attempt else None
    target = chosen.repository if chosen else None
    total = len(queries.current_patches(patchset))
    return {
        "attempt": attempt,
        "attempt_summary": attempt_summary(attempt, attempt_repository, total)
        if attempt and attempt_repository
        else "",
        "attempt_repository": attempt_repository,
        "apply_repository": target,
        "may_apply": target is not None and may_apply(session, mlist, target, actor),
        "may_check": target is not None and not actor.anonymous,
    }


def _report_values(mlist, patchset: Patchset, attempt: ApplyAttempt | None) -> dict:
    patches = queries.current_patches(patchset)
    failed = None
    if attempt is not None and attempt.failed_position is not None:
        failed = next((p for p in patches if p.position == attempt.failed_position), None)
    return {
        "mlist": mlist,
        "patchset": patchset,
        "patches": patches,
        "failed_patch": failed,
        **apply_panel(mlist, patchset, attempt),
    }
