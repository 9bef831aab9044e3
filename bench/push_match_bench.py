"""A push of 1,000 commits to a repository linked to a list holding the medium corpus:
seconds until every matching patch is marked applied, and the queries it took.

usage: .venv/bin/python bench/push_match_bench.py [--runs 3] [--patches 500] [--rebuild]

The archive: the whole medium corpus (20,000 messages, 8,534 patches in 6,563 patchsets)
imported once with `archive.importer.import_messages -j 2` into
$BENCH_WORK/mailyard-push-medium/pristine (SQLite, WAL, synchronous=FULL), with the
repository ~bench/pytest linked to pytest-dev as its default; kept while it holds the
corpus (--rebuild imports it again). Not timed.

The commits: the corpus's patches come from pytest's real history, but pytest's
repository is not here, so for each of --patches patches (the first that are plain text
diffs: no binary, rename or mode change, in mbox order, one per original commit) two
commits are written with `git fast-import`: one that sets the files the patch touches to
its pre-image (the hunks' context and removed lines at their line numbers, filler lines
between), then the patch itself, with the patch's author, date, subject and message: the
commit git would make with `git am` on the real tree, whose `git patch-id --stable` is the
one the corpus records (checked). One in ten of the patch commits carries a `Link:`
trailer to its message (matched by Message-ID), one in ten is "rebased": one of its
context lines differs, as when the base moved under it (patch id and Patchwork's hash
change; matched by author, subject and files when its patchset is still open), the rest
match by patch id. The pre-image commits match nothing. 1,000 commits for 500 patches;
the repository is cached under $BENCH_WORK keyed by the recipe.

Per run (--runs): the pristine archive copied to a scratch directory (not timed), then
`git push` of the 1,000 commits as a new branch to the hosted repository through
Mailyard's push path (post-receive records the push; as ~bench, owner of the list and the
repository), then the push hooks as the worker runs them (`repos.tasks.push_hooks_task`,
in this process, so that a SQLAlchemy `before_cursor_execute` listener counts every
statement): patches marked, patchsets applied, tickets looked up. Timed: the push, the
hooks, and both. Checked: every patch commit is marked with its own message (and, by
design, every other copy and version of it), each by the method expected, and no
pre-image commit is marked.

Results: a table at the end and $BENCH_RESULTS/mailyard_push_match_medium.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

from accounts.users import create_user, find_user  # noqa: E402
from archive.importer import import_messages  # noqa: E402
from archive.models import Message  # noqa: E402
from archive.parse import parse_message  # noqa: E402
from core.db import dispose_engines, get_engine, new_session  # noqa: E402
from core.settings import Settings, use_settings  # noqa: E402
from lists.manage import create_list  # noqa: E402
from mailyard.migrate import upgrade_database  # noqa: E402
from mailyard.wiring import install  # noqa: E402
from patchsets.applied_on_push import UNDECIDED  # noqa: E402
from patchsets.diff import split_patch  # noqa: E402
from patchsets.models import (  # noqa: E402
    MatchMethod,
    PatchCommit,
    Patchset,
    PatchsetPatch,
    PatchsetStatus,
)
from patchsets.repositories import link_repository  # noqa: E402
from repos import storage  # noqa: E402
from repos import tasks as repo_tasks  # noqa: E402
from repos.models import Push, PushVia, Repository  # noqa: E402
from repos.repositories import create_repository  # noqa: E402
from tests.corpus import generated_messages, truth  # noqa: E402
from tests.query_count import counted_statements, selects  # noqa: E402

USER = "bench"
REPOSITORY = "pytest"
RECIPE = 1  # bump when the way the commits are written changes: the cache follows it
MAINTAINER = "Bench Maintainer <maintainer@example.org>"
UNSUPPORTED = ("GIT binary patch", "Binary files ", "rename from ", "old mode ", "new mode ",
               "copy from ", "\\ No newline at end of file")  # fmt: skip


class Variant(StrEnum):
    AS_SENT = "as sent"  # matched by patch id
    LINK = "Link: trailer"  # matched by Message-ID
    REBASED = "rebased"  # a context line differs: matched by the fallback if still open


EXPECTED_METHOD = {
    Variant.AS_SENT: MatchMethod.patch_id,
    Variant.LINK: MatchMethod.message_id,
    Variant.REBASED: MatchMethod.similar,
}


@dataclass
class PatchCommitPlan:
    message_id: str  # without <>
    variant: Variant
    patch_id: str  # as the corpus records it
    mark: str = ""  # the fast-import mark of the patch commit


# -- the archive -------------------------------------------------------------------------


def settings_for(data_dir: Path) -> Settings:
    return use_settings(Settings(data_dir=data_dir, domain=common.DOMAIN))


def build_archive(pristine: Path, rebuild: bool) -> None:
    """The medium corpus imported, the repository linked; reused while complete."""
    marker = pristine / "bench-archive.json"
    if marker.exists() and not rebuild:
        return
    install()
    dispose_engines()
    shutil.rmtree(pristine, ignore_errors=True)
    settings = settings_for(pristine)
    upgrade_database(settings)
    session = new_session(settings)
    try:
        mlist = create_list(session, common.LIST_NAME, common.OWNER)
        user = create_user(session, USER, common.OWNER)
        repository = create_repository(session, settings, user, REPOSITORY)
        link_repository(session, mlist, repository, default=True)
        session.commit()
        messages = generated_messages("medium")
        print(f"importing {len(messages)} messages (once; --rebuild to redo)", flush=True)
        start = time.perf_counter()
        report = import_messages(session, mlist, messages, workers=2)
        session.commit()
        print(f"  {report.imported} imported in {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        session.close()
        dispose_engines()
    marker.write_text(json.dumps({"corpus": "medium", "messages": report.messages}))


# -- the commits -------------------------------------------------------------------------


def _eligible(messages: list[bytes], facts: list[dict], wanted: int) -> list[tuple[dict, str, str]]:
    """(truth, commit message, diff) of the first `wanted` plain-diff patches, one per
    original commit."""
    seen, out = set(), []
    for raw, fact in zip(messages, facts, strict=True):
        if fact["kind"] != "patch" or fact["has_binary"] or fact["commit"] in seen:
            continue
        if fact["body_starts_with_inbody_header"] or fact["attached"] or not fact["patch_id"]:
            continue
        message, diff = split_patch(parse_message(raw).body)
        if not diff or any(marker in diff for marker in UNSUPPORTED):
            continue
        try:
            files = PatchSet(diff)
        except UnidiffParseError:
            continue
        if not len(files) or any(f.is_rename for f in files):
            continue
        seen.add(fact["commit"])
        out.append((fact, message, diff))
        if len(out) == wanted:
            break
    return out


def _images(diff: str, rebased: bool) -> tuple[dict[str, tuple[str | None, str | None]], bool]:
    """For each file: (pre-image, post-image), None where the file does not exist; and
    whether a context line was changed (`rebased`: the first non-blank one of the patch;
    a patch that only adds files has none)."""
    images = {}
    touched = False
    for patched in PatchSet(diff):
        before: list[str] = []
        after: list[str] = []
        filler = 0
        for hunk in patched:
            while len(before) < hunk.source_start - 1:
                filler += 1
                line = f"# filler line {filler} of {patched.path}\n"
                before.append(line)
                after.append(line)
            for line in hunk:
                text = line.value
                if line.is_context:
                    if rebased and not touched and text.strip():
                        text = text.rstrip("\n") + "  # the base moved here\n"
                        touched = True
                    before.append(text)
                    after.append(text)
                elif line.is_removed:
                    before.append(text)
                elif line.is_added:
                    after.append(text)
        images[patched.path] = (
            None if patched.is_added_file else "".join(before),
            None if patched.is_removed_file else "".join(after),
        )
    return images, touched


def _stamp(date: str) -> str:
    when = parsedate_to_datetime(date)
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{int(when.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"


def _file_commands(images: dict[str, tuple[str | None, str | None]], which: int) -> str:
    out = []
    for path, pair in images.items():
        content = pair[which]
        if content is None:
            out.append(f"D {path}\n")
        else:
            out.append(f"M 100644 inline {path}\n{_data(content)}")
    return "".join(out)


def write_commits(source: Path, wanted: int) -> list[PatchCommitPlan]:
    """The source repository (see the module); the plan of its patch commits. Cached.

    git's diff of a rebuilt pre- and post-image can align a few hunks differently from
    the original (blank lines, repeated lines), so a first pass writes a fifth more
    candidates as sent and keeps those whose patch id is the corpus's."""
    plan_file = source / "bench-plan.json"
    if plan_file.exists():
        return [
            PatchCommitPlan(**{**p, "variant": Variant(p["variant"])})
            for p in json.loads(plan_file.read_text())
        ]
    facts = truth("medium")["messages"]
    candidates = _eligible(generated_messages("medium"), facts, wanted + wanted // 5)
    trial = source.with_name(source.name + "-trial")
    tried = _fast_import(trial, candidates, [Variant.AS_SENT] * len(candidates))
    faithful = _same_patch_id(trial, tried)
    shutil.rmtree(trial)
    chosen = [c for c, p in zip(candidates, tried, strict=True) if p.mark in faithful]
    if len(chosen) < wanted:
        raise SystemExit(f"only {len(chosen)} patches of the corpus can be rebuilt")
    cycle = (Variant.LINK, Variant.REBASED, *[Variant.AS_SENT] * 8)
    plan = _fast_import(source, chosen[:wanted], [cycle[n % 10] for n in range(wanted)])
    plan_file.write_text(json.dumps([{**p.__dict__, "variant": p.variant.value} for p in plan]))
    return plan


def _commit_text(subject: str, message: str) -> str:
    """The commit message: the subject, then the mail's text above the `---` line."""
    body = ("\n" + message).split("\n---\n", 1)[0].strip()
    return f"{subject}\n\n{body}\n" if body else f"{subject}\n"


def _fast_import(
    repo: Path, chosen: list[tuple[dict, str, str]], variants: list[Variant]
) -> list[PatchCommitPlan]:
    """A fresh bare repository at `repo` with a pre-image commit and a patch commit for
    each chosen patch, on main; the plan, with each patch commit's sha."""
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    stream, plan = [], []
    clock = 1_500_000_000
    for n, ((fact, message, diff), variant) in enumerate(zip(chosen, variants, strict=True)):
        images, moved = _images(diff, rebased=variant == Variant.REBASED)
        if variant == Variant.REBASED and not moved:
            variant = Variant.AS_SENT  # nothing to rebase: it is the patch as sent
        mid = fact["message_id"].strip("<>")
        clock += 60
        stream.append(
            f"commit refs/heads/main\nmark :{2 * n + 1}\n"
            f"author {MAINTAINER} {clock} +0000\ncommitter {MAINTAINER} {clock} +0000\n"
            f"{_data(f'prepare the files of patch {n}')}"
            f"{_file_commands(images, 0)}\n"
        )
        info = fact["mailinfo"]
        text = _commit_text(info["subject"], message)
        if variant == Variant.LINK:
            text += f"\nLink: https://{common.DOMAIN}/{common.LIST_NAME}/{mid}/\n"
        stream.append(
            f"commit refs/heads/main\nmark :{2 * n + 2}\n"
            f"author {info['author']} <{info['email']}> {_stamp(info['date'])}\n"
            f"committer {MAINTAINER} {clock + 30} +0000\n"
            f"{_data(text)}{_file_commands(images, 1)}\n"
        )
        plan.append(PatchCommitPlan(mid, variant, fact["patch_id"], mark=f":{2 * n + 2}"))
    marks = repo / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=repo, input="".join(stream).encode(), check=True,
    )  # fmt: skip
    shas = dict(line.split() for line in marks.read_text().splitlines())
    for p in plan:
        p.mark = shas[p.mark]  # from here on, the commit's sha
    return plan


def _same_patch_id(repo: Path, plan: list[PatchCommitPlan]) -> set[str]:
    """The commits of `plan` whose `git patch-id --stable` is the one the corpus records."""
    show = subprocess.run(
        ["git", "show", "--format=commit %H", *(p.mark for p in plan)],
        cwd=repo, capture_output=True, check=True,
    ).stdout  # fmt: skip
    ids = subprocess.run(
        ["git", "patch-id", "--stable"], cwd=repo, input=show, capture_output=True, check=True
    ).stdout.decode()
    found = {commit: pid for pid, commit in (line.split() for line in ids.splitlines())}
    return {p.mark for p in plan if found.get(p.mark) == p.patch_id}


# -- a run -------------------------------------------------------------------------------


def one_run(pristine: Path, scratch: Path, source: Path, plan: list[PatchCommitPlan]) -> dict:
    dispose_engines()
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(pristine, scratch)
    settings = settings_for(scratch)
    session = new_session(settings)
    try:
        user = find_user(session, USER)
        repository = session.scalars(select(Repository)).one()
        env = storage.git_environment(settings, repository, pusher_id=user.id, via=PushVia.ssh)
        bare = storage.path_of(settings, repository)
        start = time.perf_counter()
        subprocess.run(["git", "push", "-q", str(bare), "main"], cwd=source, env=env, check=True)
        pushed = time.perf_counter()
        push_id = session.scalars(select(Push.id).order_by(Push.id.desc())).first()
        with counted_statements(get_engine(settings)) as statements:
            hooks_start = time.perf_counter()
            if not repo_tasks.push_hooks_task(push_id):
                raise SystemExit(f"the push hooks failed; see the log of push {push_id}")
            done = time.perf_counter()
        session.expire_all()
        check = check_marks(session, plan)
        applied = session.scalar(
            select(Patchset.id).where(Patchset.status == PatchsetStatus.applied).limit(1)
        )
    finally:
        session.close()
        dispose_engines()
    return {
        "push_s": pushed - start,
        "hooks_s": done - hooks_start,
        "total_s": done - start,
        "statements": len(statements),
        "selects": len(selects(statements)),
        "any_patchset_applied": applied is not None,
        **check,
    }


def check_marks(session, plan: list[PatchCommitPlan]) -> dict:
    """Every patch commit marked with its own message, by the expected method (the
    rebased ones only where their patchset was open). A pre-image commit may be marked
    only by patch id: it then does exactly what a corpus patch did (a later patch's
    pre-image is often an earlier one's result, such as a changelog file it added)."""
    rows = session.execute(
        select(PatchCommit.commit_sha, PatchCommit.method, PatchCommit.message_pk)
    ).all()
    ids = dict(session.execute(select(Message.id, Message.message_id)).all())
    by_commit: dict[str, dict[str, MatchMethod]] = {}
    for sha, method, pk in rows:
        by_commit.setdefault(sha, {})[ids.get(pk, "").strip("<>")] = method
    planned = {p.mark for p in plan}
    others = {sha: marks for sha, marks in by_commit.items() if sha not in planned}
    stray = sorted(
        sha for sha, marks in others.items() if set(marks.values()) != {MatchMethod.patch_id}
    )
    methods = Counter()
    misses = []
    for p in plan:
        marked = by_commit.get(p.mark, {})
        method = marked.get(p.message_id)
        if method is None:
            if p.variant != Variant.REBASED or _is_open(session, p.message_id):
                misses.append((p.message_id, p.variant))
            else:
                methods["rebased, patchset already decided: not marked (as designed)"] += 1
            continue
        if method is not EXPECTED_METHOD[p.variant]:
            misses.append((p.message_id, f"{p.variant}: by {method.value}"))
        methods[f"{p.variant}: by {method.value}"] += 1
    if stray or misses:
        raise SystemExit(f"wrong marks: {len(misses)} misses {misses[:10]}, stray {stray[:10]}")
    return {
        "patch_commits": len(plan),
        "marked_rows": len(rows),
        "patches_marked": len({pk for _, _, pk in rows}),
        "methods": dict(methods),
        "preimage_commits_equal_to_a_patch": len(others),
    }


def _is_open(session, message_id: str) -> bool:
    status = session.scalar(
        select(Patchset.status)
        .join(PatchsetPatch, PatchsetPatch.patchset_id == Patchset.id)
        .where(PatchsetPatch.message_id == message_id)
        .order_by(Patchset.id.desc())
        .limit(1)
    )
    return status in UNDECIDED


# -- the report --------------------------------------------------------------------------


def print_table(result: dict) -> None:
    runs = result["runs"]
    last = runs[-1]
    seconds = {
        k: common.fmt_summary(result[k], "%.2f") + " s" for k in ("push_s", "hooks_s", "total_s")
    }
    rows = [
        ("`git push` of the commits (post-receive records it)", seconds["push_s"]),
        ("push hooks: every matching patch marked", seconds["hooks_s"]),
        ("push and hooks", seconds["total_s"]),
        ("statements run by the hooks (SELECTs)", f"{last['statements']} ({last['selects']})"),
        (
            "patch commits / patches marked (copies and versions)",
            f"{last['patch_commits']} / {last['patches_marked']}",
        ),
    ]
    rows += [(f"… {name}", str(count)) for name, count in sorted(last["methods"].items())]
    rows.append(
        ("… pre-image commits equal to a corpus patch: by patch id",
         str(last["preimage_commits_equal_to_a_patch"]))
    )  # fmt: skip
    print(f"\n{result['commits']} commits pushed, {len(runs)} runs:")
    common.print_rows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--patches", type=int, default=500, help="two commits each")
    ap.add_argument("--rebuild", action="store_true", help="import the corpus again")
    args = ap.parse_args()
    code = common.code_fingerprint()
    if shutil.which("git") is None:
        raise SystemExit("git is not installed")
    install()
    work = common.WORK / "mailyard-push-medium"
    pristine = work / "pristine"
    build_archive(pristine, args.rebuild)
    source = common.WORK / f"push-source-r{RECIPE}-n{args.patches}"
    plan = write_commits(source, args.patches)
    commits = int(
        subprocess.run(["git", "rev-list", "--count", "main"], cwd=source, capture_output=True,
                       text=True, check=True).stdout
    )  # fmt: skip
    same_id = len(_same_patch_id(source, [p for p in plan if p.variant == Variant.AS_SENT]))
    as_sent = sum(1 for p in plan if p.variant == Variant.AS_SENT)
    print(f"{commits} commits; {same_id} of {as_sent} as-sent commits have the corpus's patch id")
    if same_id != as_sent:
        raise SystemExit("the rebuilt commits are not the patches as sent")
    runs = []
    for run in range(args.runs):
        runs.append(one_run(pristine, work / "run", source, plan))
        r = runs[-1]
        print(
            f"run {run}: push {r['push_s']:.2f} s, hooks {r['hooks_s']:.2f} s, "
            f"{r['statements']} statements ({r['selects']} SELECTs), "
            f"{r['patches_marked']} patches marked",
            flush=True,
        )
    result = {
        "what": "a push of COMMITS commits (PATCHES patches rebuilt from the medium corpus, "
        "each after a pre-image commit) to a repository linked to a list holding the corpus "
        "(SQLite): the git push, then the push hooks as the worker runs them",
        "commits": commits,
        "patches": args.patches,
        "push_s": common.summary([r["push_s"] for r in runs]),
        "hooks_s": common.summary([r["hooks_s"] for r in runs]),
        "total_s": common.summary([r["total_s"] for r in runs]),
        "runs": runs,
        "machine": common.machine(),
        "code": code,
    }
    print_table(result)
    common.save("mailyard_push_match_medium.json", result)


if __name__ == "__main__":
    main()
