"""The patch tracker: classification throughput, import with grouping, and the series mbox.

usage: .venv/bin/python bench/patchsets_bench.py [--corpus small|medium] [--runs 3]
                                                 [--import-runs 1] [-j 1] [--requests 200]

Three measures, on the generated corpus (medium, 20,000 messages, by default):

1. Classification, pure (no database): `archive.parse.parse_message` then
   `patchsets.classify.classify_message` on every message, in messages/s, beside the stdlib
   parse floor (`parse_bench.parse_floor`) measured in the same process on the same
   messages, and `classify_message` alone on messages parsed beforehand. Best of --runs
   passes, as parse_bench.py does: classification runs on every message ingested, so the
   pipeline's distance from the floor is what classification costs.
2. Classification and grouping with the database: the whole corpus imported with
   `archive.importer.import_messages` (store, parse, thread, search-index, classify, group
   into patchsets and versions) into a fresh SQLite data directory,
   $BENCH_WORK/mailyard-patchsets-CORPUS, in this process (-j parser processes beside it;
   1: parse in the importing process, as the corpus test does). Messages/s = messages in
   the corpus (duplicates included, as import_bench.py counts them) / wall seconds of the
   call; --import-runs runs (default 1: about two minutes on medium). The last run's
   archive is checked against the ground truth (tests/patchsets/truth_check.py): messages
   checked, misses (each printed), accuracy.
3. Latency of `/<list>/patches/<id>/mbox`: the corpus has few long series, so a real git
   repository is made with 20 commits on a base commit, sent as `git format-patch
   --cover-letter -20 --thread=shallow` (21 mails) and imported into the archive of part 2,
   so that the database is full-size; a 1-patch series beside it for comparison. Each
   mbox is checked once (as many entries as patches; `git am` onto the base commit in a
   scratch clone gives the tree the author had, else the script fails), then `mailyard
   web` (gunicorn, 1 worker, as web_bench.py starts it) gets --runs rounds of --requests
   sequential keep-alive GETs (web_bench.latency_round: 5 warm-up requests first), p50 and
   p99 per round.

Results: a table at the end and $BENCH_RESULTS/mailyard_patchsets_CORPUS.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from parse_bench import measure_rate, parse_floor  # noqa: E402
from web_bench import latency_round, wait_ready  # noqa: E402

from archive.importer import import_messages  # noqa: E402
from archive.lists import get_list
from archive.parse import parse_message  # noqa: E402
from core.db import dispose_engines, new_session  # noqa: E402
from core.settings import Settings, use_settings  # noqa: E402
from lists.manage import create_list  # noqa: E402
from mailyard.migrate import upgrade_database  # noqa: E402
from mailyard.wiring import install  # noqa: E402
from patchsets.classify import Classification, classify_message  # noqa: E402
from patchsets.models import Patchset, PatchsetPatch  # noqa: E402
from tests.corpus import generated_messages, truth  # noqa: E402
from tests.patchsets.truth_check import check_against_truth  # noqa: E402

LIST_ADDRESS = f"{common.LIST_NAME}@{common.DOMAIN}"
LONG_SERIES = 20
AUTHOR = ("Bench Author", "bench.author@example.org")


# -- 1. classification, no database -------------------------------------------------------


def parse_and_classify(raw: bytes) -> Classification:
    """What ingest does to classify one message, minus the database (patchsets/track.py)."""
    parsed = parse_message(raw)
    has_parent = bool(parsed.in_reply_to or parsed.references)
    return classify_message(parsed.subject, parsed.body, has_parent)


def classification_rates(messages: list[bytes], runs: int) -> dict:
    """Best-of-`runs` messages/s of the pipeline, the stdlib floor and classify alone, all
    in this process on the same messages, so that the three can be compared directly."""
    pipeline = measure_rate(parse_and_classify, messages, runs)
    floor = measure_rate(parse_floor, messages, runs)
    parsed = [parse_message(raw) for raw in messages]
    inputs = [(p.subject, p.body, bool(p.in_reply_to or p.references)) for p in parsed]
    alone = measure_rate(lambda args: classify_message(*args), inputs, runs)
    return {
        "messages": len(messages),
        "runs": runs,
        "parse_and_classify_msgs_per_sec": pipeline,
        "stdlib_floor_msgs_per_sec": floor,
        "classify_only_msgs_per_sec": alone,
        "pipeline_over_floor": pipeline / floor,
    }


# -- 2. import with classification and grouping -----------------------------------------


def open_archive(data_dir: Path, fresh: bool):
    """A session on the SQLite archive in `data_dir` (emptied first when `fresh`), with the
    list created: the same settings the web server is given in part 3."""
    install()  # the domains' hooks, as every mailyard command has them
    dispose_engines()
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    settings = use_settings(Settings(data_dir=data_dir, domain=common.DOMAIN))
    upgrade_database(settings)
    session = new_session(settings)
    mlist = get_list(session, common.LIST_NAME)
    if mlist is None:
        mlist = create_list(session, common.LIST_NAME, common.OWNER)
        session.commit()
    return session, mlist


def import_run(data_dir: Path, messages: list[bytes], jobs: int) -> dict:
    """One timed import_messages of the whole corpus into a fresh archive (list creation
    and schema are not timed)."""
    session, mlist = open_archive(data_dir, fresh=True)
    try:
        start = time.perf_counter()
        report = import_messages(session, mlist, messages, workers=jobs)
        session.commit()
        seconds = time.perf_counter() - start
        patchsets = session.query(Patchset).count()
    finally:
        session.close()
    return {
        "seconds": seconds,
        "msgs_per_sec": len(messages) / seconds,
        "read": report.messages,
        "imported": report.imported,
        "duplicates": report.duplicates,
        "parse_problems": report.problems,
        "patchsets": patchsets,
    }


def truth_accuracy(data_dir: Path, corpus: str) -> dict:
    """The archive against the corpus's ground truth, as the corpus test checks it."""
    session, _ = open_archive(data_dir, fresh=False)
    try:
        report = check_against_truth(session, truth(corpus))
    finally:
        session.close()
    return {
        "checked": report.checked,
        "misses": report.misses,
        "accuracy": report.accuracy,
    }


# -- 3. a real git series, and its mbox over HTTP ----------------------------------------


@dataclass
class Series:
    """A series as git wrote it: its mails (From_ line removed), where it applies, and the
    tree applying it must give."""

    name: str  # its key in the results
    label: str  # its name in the table
    mails: list[bytes]
    patch_message_ids: list[str]  # without <>
    base: str
    tree: str

    @property
    def patches(self) -> int:
        return len(self.patch_message_ids)


class Git:
    """git in one repository, with a fixed identity and no user or system configuration,
    so the series is the same whoever runs the benchmark."""

    def __init__(self, repo: Path, home: Path) -> None:
        self.repo = repo
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR[0],
            "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_NAME": AUTHOR[0],
            "GIT_COMMITTER_EMAIL": AUTHOR[1],
        }

    def __call__(self, *args: str, stdin: bytes | None = None, date: str = "") -> str:
        env = dict(self.env)
        if date:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
        done = subprocess.run(
            ["git", *args], cwd=self.repo, env=env, input=stdin, capture_output=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"git {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}"
            )
        return done.stdout.decode().strip()


FILES = [f"src/module_{k}.py" for k in range(5)]


def _git_date(when: datetime) -> str:
    return format_datetime(when)


def write_change(repo: Path, step: int, files: list[str]) -> None:
    """Rewrite three lines of each of `files`: a few lines of a few files per commit."""
    for name in files:
        path = repo / name
        lines = path.read_text().splitlines(keepends=True)
        for n in range(step * 2, step * 2 + 3):
            lines[n] = f"value_{n} = {n} + {step}  # changed by step {step}\n"
        path.write_text("".join(lines))


def make_repository(git: Git, start: datetime) -> str:
    """A repository with one base commit of five 60-line files; returns the base's sha."""
    git.repo.mkdir(parents=True)
    git("init", "-q", "--initial-branch=main")
    for name in FILES:
        path = git.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"value_{n} = {n}\n" for n in range(60)))
    git("add", ".")
    git("commit", "-q", "-m", "base: five modules", date=_git_date(start))
    return git("rev-parse", "HEAD")


def commit_steps(git: Git, steps: range, start: datetime, subject: str) -> None:
    """One signed-off commit per step, each touching three of the five files."""
    for step in steps:
        files = [FILES[(step + k) % len(FILES)] for k in range(3)]
        write_change(git.repo, step, files)
        git("add", ".")
        message = (
            f"{subject.format(step=step)}\n\n"
            f"Step {step} changes three lines in each of {', '.join(files)}, so that the\n"
            "series looks like a real one: a few hunks a patch, in several files.\n"
        )
        git("commit", "-q", "-s", "-m", message, date=_git_date(start + timedelta(minutes=step)))


def format_series(git: Git, base: str, count: int, out: Path, cover: bool) -> list[Path]:
    """`git format-patch` of the last `count` commits, threaded, addressed to the list."""
    args = ["format-patch", "-q", f"-{count}", "--thread=shallow", f"--to={LIST_ADDRESS}"]
    if cover:
        args += ["--cover-letter", f"--base={base}"]
    git(*args, "-o", str(out))
    files = sorted(out.glob("*.patch"))
    if cover:
        _fill_cover_letter(files[0], count)
    return files


def _fill_cover_letter(path: Path, count: int) -> None:
    """git leaves placeholders in the cover letter; a sender replaces them."""
    text = path.read_text()
    text = text.replace("*** SUBJECT HERE ***", f"bench: a {count}-patch series for the tracker")
    text = text.replace(
        "*** BLURB HERE ***",
        f"These {count} patches each change a few lines of a few files; the benchmark\n"
        "measures how fast the tracker serves them as one mbox.",
    )
    path.write_text(text)


def read_mails(files: list[Path]) -> tuple[list[bytes], list[str]]:
    """The mails without their From_ line, and the Message-IDs of those that are patches
    (everything but a cover letter)."""
    mails, patch_ids = [], []
    for path in files:
        raw = path.read_bytes()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        mails.append(raw)
        if not path.name.startswith("0000-cover-letter"):
            patch_ids.append(parse_message(raw).message_id)
    return mails, patch_ids


def build_series(tmp: Path) -> tuple[Series, Series, Path]:
    """The 20-patch series (with a cover letter) and a 1-patch series, both on the same
    base commit, from a fresh git repository in `tmp`; also returns the repository."""
    git = Git(tmp / "repo", tmp)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    base = make_repository(git, start)
    commit_steps(git, range(1, LONG_SERIES + 1), start, "bench: long series, step {step:02d}")
    long_files = format_series(git, base, LONG_SERIES, tmp / "long", cover=True)
    long_tree = git("rev-parse", "HEAD^{tree}")
    git("checkout", "-q", "-b", "solo", base)
    commit_steps(git, range(25, 26), start, "bench: a patch on its own (step {step})")
    solo_files = format_series(git, base, 1, tmp / "solo", cover=False)
    solo_tree = git("rev-parse", "HEAD^{tree}")
    series = []
    for name, label, files, tree in (
        ("series_20_patches", "20 patches and a cover letter", long_files, long_tree),
        ("series_1_patch", "1 patch", solo_files, solo_tree),
    ):
        mails, patch_ids = read_mails(files)
        series.append(Series(name, label, mails, patch_ids, base, tree))
    return series[0], series[1], git.repo


def import_series(data_dir: Path, series: list[Series]) -> dict[str, int]:
    """Import the series' mails into the full archive; returns each series' patchset id."""
    session, mlist = open_archive(data_dir, fresh=False)
    try:
        ids = {}
        for s in series:
            import_messages(session, mlist, s.mails)
            session.commit()
            ids[s.name] = _patchset_of(session, s)
    finally:
        session.close()
        dispose_engines()
    return ids


def _patchset_of(session, series: Series) -> int:
    """The patchset holding all the series' patches, and nothing else (fails otherwise)."""
    found = set(
        session.scalars(
            select(PatchsetPatch.patchset_id)
            .where(PatchsetPatch.message_id.in_(series.patch_message_ids))
            .distinct()
        )
    )
    if len(found) != 1:
        raise SystemExit(f"{series.name}: its patches are in patchsets {found}, not one")
    patchset = session.get(Patchset, found.pop())
    current = [p for p in patchset.patches if not p.replaced]
    if len(current) != series.patches:
        raise SystemExit(
            f"{series.name}: patchset {patchset.id} has {len(current)} patches, "
            f"{series.patches} were sent"
        )
    return patchset.id


def fetch(port: int, path: str) -> bytes:
    """One GET that must answer 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status}\n{body[:2000].decode(errors='replace')}")
    return body


def check_mbox(mbox: bytes, series: Series, repo: Path, scratch: Path) -> None:
    """The mbox is the whole series and `git am` applies it onto the base commit, giving
    the tree the author had: a fast answer that is wrong is no figure."""
    entries = common.split_mboxrd(mbox)
    if len(entries) != series.patches:
        raise SystemExit(
            f"{series.name}: the mbox has {len(entries)} entries, not {series.patches}"
        )
    shutil.rmtree(scratch, ignore_errors=True)
    Git(repo.parent, repo.parent)("clone", "-q", str(repo), str(scratch))
    git = Git(scratch, repo.parent)
    git("checkout", "-q", "--detach", series.base)
    git("am", "-q", stdin=mbox)
    tree = git("rev-parse", "HEAD^{tree}")
    if tree != series.tree:
        raise SystemExit(f"{series.name}: git am gave tree {tree}, the author had {series.tree}")


def start_web(data_dir: Path, port: int) -> subprocess.Popen:
    """`mailyard web` on the archive, as web_bench.py starts it (one gunicorn worker)."""
    env = common.mailyard_env(
        data_dir,
        http_listen=f"127.0.0.1:{port}",
        base_url=f"http://127.0.0.1:{port}",
        web_workers="1",
        smtp_listen="",
    )
    log = open(data_dir / "web.log", "ab")  # the child has its own copy
    try:
        return subprocess.Popen(
            [common.mailyard_bin(), "web"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_web(proc: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's master, then SIGKILL to whatever is left of its group."""
    common.stop_process(proc, sig=signal.SIGTERM)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def mbox_latencies(data_dir: Path, series: list[Series], ids: dict, repo: Path, args) -> dict:
    """Check each series' mbox once, then time --runs rounds of --requests GETs of it."""
    port = common.free_port()
    proc = start_web(data_dir, port)
    out = {}
    try:
        try:
            common.wait_for_port(port, proc, timeout=60)
            wait_ready(port, proc, f"/{common.LIST_NAME}/patches")
        except (RuntimeError, TimeoutError) as e:
            raise SystemExit(f"{e}\n--- web log:\n{common.tail(data_dir / 'web.log')}") from None
        for s in series:
            path = f"/{common.LIST_NAME}/patches/{ids[s.name]}/mbox"
            check_mbox(fetch(port, path), s, repo, repo.parent / f"am-{s.name}")
            print(f"{s.name}: {path} holds {s.patches} patches, git am applies it", flush=True)
            rounds = [latency_round(port, path, args.requests) for _ in range(args.runs)]
            for r in rounds:
                if r["status"] != {"200": r["n"]}:
                    raise SystemExit(f"{path}: answers {r['status']}")
                print(
                    f"  round: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                    f"{r['bytes']} bytes",
                    flush=True,
                )
            out[s.name] = {
                "label": s.label,
                "path": path,
                "patches": s.patches,
                "bytes": rounds[-1]["bytes"],
                "rounds": rounds,
                "p50_ms": common.summary([r["p50_ms"] for r in rounds]),
                "p99_ms": common.summary([r["p99_ms"] for r in rounds]),
            }
        if proc.poll() is not None:
            raise SystemExit(f"mailyard web died\n{common.tail(data_dir / 'web.log')}")
    finally:
        stop_web(proc)
    return out


# -- the report ---------------------------------------------------------------------------


def print_table(result: dict) -> None:
    """All figures as one Markdown table, ready for bench/README.md."""
    c, imp, acc = result["classification"], result["import"], result["truth"]
    rows = [
        (
            "parse_message + classify_message (no database)",
            f"{c['parse_and_classify_msgs_per_sec']:,.0f} msgs/s",
        ),
        ("stdlib parse floor, same process", f"{c['stdlib_floor_msgs_per_sec']:,.0f} msgs/s"),
        ("pipeline / floor", f"{c['pipeline_over_floor']:.2f}x"),
        (
            "classify_message alone (parsed beforehand)",
            f"{c['classify_only_msgs_per_sec']:,.0f} msgs/s",
        ),
        (
            f"import_messages -j {result['jobs']} (store, parse, thread, index, classify, group)",
            f"{common.fmt_summary(imp['msgs_per_sec'])} msgs/s, "
            f"{common.fmt_summary(imp['seconds'], '%.1f')} s",
        ),
        (
            "ground truth",
            f"{acc['checked'] - len(acc['misses']):,}/{acc['checked']:,} right "
            f"({acc['accuracy']:.2%}), {len(acc['misses'])} misses",
        ),
    ]
    for e in result["mbox"].values():
        rows.append(
            (
                f"/{common.LIST_NAME}/patches/<id>/mbox, {e['label']}",
                f"p50 {common.fmt_summary(e['p50_ms'], '%.2f')} ms, "
                f"p99 {common.fmt_summary(e['p99_ms'], '%.2f')} ms; {e['bytes']:,} bytes",
            )
        )
    print(
        f"\ncorpus {result['corpus']} ({c['messages']:,} messages); classification best of "
        f"{c['runs']} passes, import median (min–max) of {len(imp['runs'])}, mbox median "
        f"(min–max) of {result['runs']} rounds of {result['requests']} GETs\n"
    )
    common.print_rows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["small", "medium"], default="medium")
    ap.add_argument("--runs", type=int, default=3, help="classification passes, mbox rounds")
    ap.add_argument("--import-runs", type=int, default=1, help="imports of the whole corpus")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="import_messages parser processes")
    ap.add_argument("--requests", type=int, default=200, help="GETs per mbox round")
    args = ap.parse_args()
    code = common.code_fingerprint()  # the code as it is when the measure starts
    if shutil.which("git") is None:
        raise SystemExit("git is not installed: it writes the series and applies the mbox")

    messages = generated_messages(args.corpus)
    print(f"corpus {args.corpus}: {len(messages)} messages", flush=True)
    classification = classification_rates(messages, args.runs)
    print(
        f"parse+classify {classification['parse_and_classify_msgs_per_sec']:.0f} msgs/s, "
        f"floor {classification['stdlib_floor_msgs_per_sec']:.0f} msgs/s, classify alone "
        f"{classification['classify_only_msgs_per_sec']:.0f} msgs/s",
        flush=True,
    )

    data_dir = common.WORK / f"mailyard-patchsets-{args.corpus}"
    runs = []
    for run in range(args.import_runs):
        runs.append(import_run(data_dir, messages, args.jobs))
        r = runs[-1]
        print(
            f"import run {run}: {r['read']} messages in {r['seconds']:.1f} s = "
            f"{r['msgs_per_sec']:.0f} msgs/s ({r['imported']} imported, {r['duplicates']} "
            f"duplicates, {r['patchsets']} patchsets)",
            flush=True,
        )
    accuracy = truth_accuracy(data_dir, args.corpus)
    for miss in accuracy["misses"]:
        print("miss:", miss)
    print(
        f"ground truth: {accuracy['checked']} checked, {len(accuracy['misses'])} misses, "
        f"accuracy {accuracy['accuracy']:.4%}",
        flush=True,
    )

    common.WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=common.WORK, prefix="series-") as tmp:
        long_series, solo, repo = build_series(Path(tmp))
        ids = import_series(data_dir, [long_series, solo])
        print(f"imported the series as patchsets {ids}", flush=True)
        mbox = mbox_latencies(data_dir, [long_series, solo], ids, repo, args)

    result = {
        "what": "patch tracker: parse+classify vs stdlib floor; import_messages with "
        "classification and grouping (SQLite) and its ground-truth accuracy; latency of "
        "/<list>/patches/<id>/mbox (mailyard web, gunicorn 1 worker) on the full archive",
        "corpus": args.corpus,
        "runs": args.runs,
        "requests": args.requests,
        "jobs": args.jobs,
        "classification": classification,
        "import": {
            "runs": runs,
            "msgs_per_sec": common.summary([r["msgs_per_sec"] for r in runs]),
            "seconds": common.summary([r["seconds"] for r in runs]),
            "data_dir": str(data_dir),
        },
        "truth": accuracy,
        "mbox": mbox,
        "machine": common.machine(),
        "code": code,
    }
    print_table(result)
    common.save(f"mailyard_patchsets_{args.corpus}.json", result)


if __name__ == "__main__":
    main()
