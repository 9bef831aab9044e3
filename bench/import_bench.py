"""Bulk import throughput of `mailyard import-mbox` on the generated corpus.

usage: .venv/bin/python bench/import_bench.py [--corpus medium] [--runs 3] [-j N]
                                              [--database-url postgresql+psycopg://...]

Each run starts from nothing: a fresh data directory (SQLite embedded default, WAL and
synchronous=FULL), or a freshly created PostgreSQL database with --database-url, then
`mailyard list create pytest-dev --owner ...` (not timed) and
`mailyard import-mbox pytest-dev medium.mbox -j N` (timed: wall clock of the whole
command, interpreter start and schema check included). Messages per second is the
number of messages in the mbox (20,000 for medium, duplicates included, as the
public-inbox figures count them) divided by those seconds.

Memory: the largest peak RSS of any process of the command (`/usr/bin/time -v`, else
getrusage(RUSAGE_CHILDREN)), the importer's own peak (VmHWM of the main process, sampled)
and the largest sampled sum of RSS over the importer and its parser processes.

The last run's data directory is kept in $BENCH_WORK/mailyard-import/; its PostgreSQL
database is dropped unless --keep-database.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

REPORT_RE = re.compile(
    r"(\d+) messages read: (\d+) imported, (\d+) duplicates skipped, (\d+) with parse "
    r"problems; ([\d.]+) s, (\d+) messages/s"
)


def database_bytes(url: str, data_dir: Path) -> int:
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as c:
                return c.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        finally:
            engine.dispose()
    return common.du_bytes(data_dir)


def one_run(args, run: int, mbox: Path, nmsgs: int) -> dict:
    base = common.WORK / "mailyard-import"
    data_dir = base / f"run{run}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if args.database_url:
        common.recreate_postgres(args.database_url)
    env = common.mailyard_env(data_dir, args.database_url)
    url = args.database_url or f"sqlite:///{data_dir / 'mailyard.db'}"
    common.run_mailyard(env, "list", "create", common.LIST_NAME, "--owner", common.OWNER)
    cmd = [common.mailyard_bin(), "import-mbox", common.LIST_NAME, str(mbox), "-j", str(args.jobs)]
    res = common.run_measured(cmd, env, timeout=args.timeout)
    if res["returncode"] != 0:
        raise RuntimeError(
            f"import-mbox failed ({res['returncode']}):\n{res['stdout']}{res['stderr'][-4000:]}"
        )
    m = REPORT_RE.search(res["stdout"])
    if not m:
        raise RuntimeError(
            f"import-mbox did not report its end:\n{res['stdout']}{res['stderr'][-4000:]}"
        )
    own = {
        "read": int(m.group(1)),
        "imported": int(m.group(2)),
        "duplicates": int(m.group(3)),
        "parse_problems": int(m.group(4)),
        "seconds": float(m.group(5)),
        "msgs_per_sec": float(m.group(6)),
    }
    stored = common.count_messages(url)
    archived = common.count_messages(url, "archived")
    out = {
        "seconds": res["seconds"],
        "msgs_per_sec": nmsgs / res["seconds"],
        "max_rss_mib": res["max_rss_mib"],
        "max_rss_source": res["max_rss_source"],
        "importer_peak_rss_mib": res["main_peak_rss_mib"],
        "tree_rss_mib": res["tree_rss_mib"],
        "processes": res["max_processes"],
        "stored": stored,
        "archived": archived,
        "database_bytes": database_bytes(url, data_dir),
        "importer_report": own,
        "data_dir": str(data_dir),
    }
    print(
        f"run {run}: {nmsgs} msgs in {res['seconds']:.1f} s = {out['msgs_per_sec']:.0f} msg/s; "
        f"peak RSS {res['max_rss_mib']:.0f} MiB (largest process), importer "
        f"{res['main_peak_rss_mib']:.0f} MiB, tree sum {res['tree_rss_mib']:.0f} MiB; "
        f"{stored} stored, {archived} archived; importer says: "
        f"{m.group(0)}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["small", "medium"], default="medium")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=2,
        help="`import-mbox -j`: parser processes (default %(default)s, its own default on 2 cores)",
    )
    ap.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL, e.g. postgresql+psycopg://postgres@127.0.0.1/"
        "mailyard_bench; the database is dropped and created for every run",
    )
    ap.add_argument(
        "--keep-database", action="store_true", help="keep the last run's PostgreSQL database"
    )
    ap.add_argument("--timeout", type=float, default=3600, help="per import, seconds")
    common.add_shared_arg(ap)
    args = ap.parse_args()
    common.code_fingerprint()  # the code as it is when the measure starts

    mbox = common.corpus_file(args.shared, f"{args.corpus}.mbox")
    nmsgs = len(common.split_mboxrd(mbox.read_bytes()))
    runs = []
    try:
        for r in range(args.runs):
            runs.append(one_run(args, r, mbox, nmsgs))
            if r < args.runs - 1:
                shutil.rmtree(runs[-1]["data_dir"], ignore_errors=True)
    finally:
        if args.database_url and not args.keep_database:
            common.drop_postgres(args.database_url)
    backend = "postgresql" if args.database_url else "sqlite"
    database = common.safe_url(args.database_url) if args.database_url else "sqlite (embedded)"
    result = {
        "what": f"mailyard import-mbox {common.LIST_NAME} {args.corpus}.mbox -j {args.jobs} "
        f"(fresh {backend} database per run; parse, store, thread and search-index)",
        "corpus": args.corpus,
        "messages_in_mbox": nmsgs,
        "jobs": args.jobs,
        "database": database,
        "code": common.code_fingerprint(),
        "machine": common.machine(),
        "msgs_per_sec": common.summary([x["msgs_per_sec"] for x in runs]),
        "seconds": common.summary([x["seconds"] for x in runs]),
        "max_rss_mib": common.summary([x["max_rss_mib"] for x in runs]),
        "importer_peak_rss_mib": common.summary([x["importer_peak_rss_mib"] for x in runs]),
        "tree_rss_mib": common.summary([x["tree_rss_mib"] for x in runs]),
        "raw": runs,
    }
    print(
        f"import {args.corpus} ({backend}, -j {args.jobs}), median (min–max) of {len(runs)}: "
        f"{common.fmt_summary(result['msgs_per_sec'])} msg/s, "
        f"{common.fmt_summary(result['seconds'], '%.1f')} s, peak RSS "
        f"{common.fmt_summary(result['max_rss_mib'])} MiB (largest process), importer "
        f"{common.fmt_summary(result['importer_peak_rss_mib'])} MiB, tree sum "
        f"{common.fmt_summary(result['tree_rss_mib'])} MiB",
        flush=True,
    )
    common.save(f"mailyard_import_{args.corpus}_{backend}_j{args.jobs}.json", result)


if __name__ == "__main__":
    main()
