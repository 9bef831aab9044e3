"""Latency of `mailyard web` (gunicorn) on 127.0.0.1, measured as pi_http_bench.py measures
public-inbox-httpd (bounded loops only).

usage: .venv/bin/python bench/web_bench.py [--rounds 3] [--requests 200] [--workers 1] [--wrk]
                                           [--database-url postgresql+psycopg://...] [--rebuild]

The archive: the whole medium corpus imported with `mailyard import-mbox` into the data
directory $BENCH_WORK/mailyard-medium (with --database-url: into that database, which is
dropped and created first, with the data directory $BENCH_WORK/mailyard-medium-DBNAME),
built once and reused while it holds the corpus (--rebuild builds it again). `mailyard
init` brings its schema up to date before the server starts.

The server: `mailyard web` on a free port, MAILYARD_WEB_WORKERS=1 (public-inbox-httpd's
default is 1 worker; --workers to change). Endpoints, for the root of the same 10-message
thread as the public-inbox figures (pi_http_bench.py's pick_thread on the ground truth),
its Message-ID escaped as the web escapes it (web.mid.mid_escape, public-inbox's rule):
  thread_page_T      /pytest-dev/<msgid>/T/
  raw                /pytest-dev/<msgid>/raw
  t_mbox_gz_10msgs   /pytest-dev/<msgid>/t.mbox.gz
  search_q_fixture   /pytest-dev/?q=fixture
For each, --rounds rounds of --requests sequential GETs on one keep-alive connection
(10 s timeout, 120 s cap per round; the first 5 are warm-up), p50/p90/p99 per round;
with --wrk and wrk installed, `wrk -t1 -c4 -d10s` per endpoint and round. The server is
stopped by its PID.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

ARCHIVE = common.WORK / "mailyard-medium"  # with --database-url: mailyard-medium-<dbname>
MARKER = ".bench-archive"
UNIQUE_MESSAGES = 19_980  # the medium corpus less its 20 byte-identical re-deliveries


def mid_escape(msgid: str) -> str:
    """web.mid.mid_escape when the repository has it, else public-inbox's rule."""
    sys.path.insert(0, str(common.REPO))
    try:
        from web.mid import mid_escape as escape
    except ImportError:
        return quote(msgid, safe="!$&'()*+,;=:@")
    finally:
        sys.path.remove(str(common.REPO))
    return escape(msgid)


def archive_dir(database_url: str) -> Path:
    if not database_url:
        return ARCHIVE
    from sqlalchemy.engine import make_url

    return ARCHIVE.with_name(f"{ARCHIVE.name}-{make_url(database_url).database}")


def archive_ready(args, env: dict[str, str], url: str) -> bool:
    if args.rebuild:
        return False
    if not (archive_dir(args.database_url) / MARKER).exists():
        return False
    try:
        return common.count_messages(url) >= UNIQUE_MESSAGES
    except Exception:  # noqa: BLE001 - no database, no table: build it
        return False


def build_archive(args, env: dict[str, str], url: str) -> dict:
    archive = archive_dir(args.database_url)
    shutil.rmtree(archive, ignore_errors=True)
    archive.mkdir(parents=True)
    if args.database_url:
        common.recreate_postgres(args.database_url)
    mbox = common.corpus_file(args.shared, "medium.mbox")
    common.run_mailyard(env, "list", "create", common.LIST_NAME, "--owner", common.OWNER)
    where = common.safe_url(args.database_url) if args.database_url else archive
    print(f"building the archive in {where} (import-mbox, about a minute or two)", flush=True)
    t = time.perf_counter()
    out = common.run_mailyard(
        env, "import-mbox", common.LIST_NAME, str(mbox), "-j", "2", timeout=3600
    )
    info = {
        "import_seconds": time.perf_counter() - t,
        "import_output": out.strip(),
        "messages": common.count_messages(url),
    }
    (archive / MARKER).write_text(out)
    print(out.strip(), flush=True)
    return info


def wait_ready(port: int, proc: subprocess.Popen, path: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mailyard web exited with status {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            return r.status
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"mailyard web did not answer on 127.0.0.1:{port} in {timeout:.0f} s")


def latency_round(port: int, path: str, requests: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat: list[float] = []
    codes: dict[int, int] = {}
    size = 0
    t_end = time.time() + 120
    for i in range(requests + 5):
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        dt = time.perf_counter() - t
        if i >= 5:  # the first 5 requests are warm-up
            lat.append(dt * 1000)
            codes[resp.status] = codes.get(resp.status, 0) + 1
            size = len(body)
        if time.time() > t_end:
            break
    conn.close()
    return {
        "n": len(lat),
        "p50_ms": common.pct(lat, 50),
        "p90_ms": common.pct(lat, 90),
        "p99_ms": common.pct(lat, 99),
        "mean_ms": statistics.mean(lat),
        "status": {str(k): v for k, v in codes.items()},
        "bytes": size,
    }


def wrk(port: int, path: str) -> float:
    w = subprocess.run(
        ["wrk", "-t1", "-c4", "-d10s", "--timeout", "10s", f"http://127.0.0.1:{port}{path}"],
        stdout=subprocess.PIPE,
        timeout=60,
    ).stdout.decode()
    m = re.search(r"Requests/sec:\s+([\d.]+)", w)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", w)
    if non2xx:
        print(f"  wrk: {non2xx.group(1)} non-2xx/3xx responses", flush=True)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", "--runs", dest="rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1, help="MAILYARD_WEB_WORKERS (default 1)")
    ap.add_argument("--wrk", action="store_true", help="also wrk -t1 -c4 -d10s per endpoint")
    ap.add_argument(
        "--database-url", default="", help="PostgreSQL URL holding (or to hold) the medium archive"
    )
    ap.add_argument("--rebuild", action="store_true", help="import the archive again")
    common.add_shared_arg(ap)
    args = ap.parse_args()
    common.code_fingerprint()  # the code as it is when the measure starts

    truth = common.load_truth(args.shared)
    root = common.pick_thread(truth).strip("<>")
    esc = mid_escape(root)
    archive = archive_dir(args.database_url)
    url = args.database_url or f"sqlite:///{archive / 'mailyard.db'}"
    port = common.free_port()
    env = common.mailyard_env(
        archive,
        args.database_url,
        http_listen=f"127.0.0.1:{port}",
        base_url=f"http://127.0.0.1:{port}",
        web_workers=str(args.workers),
        smtp_listen="",
    )
    build = None
    if not archive_ready(args, env, url):
        build = build_archive(args, env, url)
    common.run_mailyard(env, "init")
    log_path = archive / "web.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [common.mailyard_bin(), "web"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            common.wait_for_port(port, proc, timeout=60)
            status = wait_ready(port, proc, f"/{common.LIST_NAME}/")
        except (RuntimeError, TimeoutError) as e:
            raise SystemExit(f"{e}\n--- web log:\n{common.tail(log_path)}") from None
        if status != 200:
            print(f"warning: /{common.LIST_NAME}/ answers {status}", flush=True)
        eps = {
            "thread_page_T": f"/{common.LIST_NAME}/{esc}/T/",
            "raw": f"/{common.LIST_NAME}/{esc}/raw",
            "t_mbox_gz_10msgs": f"/{common.LIST_NAME}/{esc}/t.mbox.gz",
            "search_q_fixture": f"/{common.LIST_NAME}/?q=fixture",
        }
        have_wrk = bool(shutil.which("wrk"))
        if args.wrk and not have_wrk:
            print("wrk is not installed: no throughput figures (apt-get install wrk)", flush=True)
        out = {
            "thread_root": root,
            "endpoints": {},
            "requests_per_round": args.requests,
            "rounds": args.rounds,
            "machine": common.machine(),
            "server": f"mailyard web (gunicorn gthread, {args.workers} worker(s) x 4 threads), "
            "127.0.0.1",
            "database": common.safe_url(url),
            "code": common.code_fingerprint(),
            "archive": str(archive),
            "archive_built_now": build,
        }
        for name, path in eps.items():
            rounds = []
            for r in range(args.rounds):
                rounds.append(latency_round(port, path, args.requests))
                x = rounds[-1]
                print(
                    f"{name} round {r}: p50 {x['p50_ms']:.2f} ms p90 {x['p90_ms']:.2f} ms "
                    f"p99 {x['p99_ms']:.2f} ms ({x['status']}, {x['bytes']} bytes)",
                    flush=True,
                )
            e = {
                "path": path,
                "rounds": rounds,
                "p50_ms": common.summary([x["p50_ms"] for x in rounds]),
                "p90_ms": common.summary([x["p90_ms"] for x in rounds]),
                "p99_ms": common.summary([x["p99_ms"] for x in rounds]),
            }
            if args.wrk and have_wrk:
                rps = [wrk(port, path) for _ in range(args.rounds)]
                e["wrk_t1_c4_10s_req_per_sec"] = common.summary(rps)
                print(f"{name} wrk req/s: {rps}", flush=True)
            out["endpoints"][name] = e
        if proc.poll() is not None:
            raise SystemExit(f"mailyard web died during the benchmark\n{common.tail(log_path)}")
        for name, e in out["endpoints"].items():
            line = (
                f"{name}: p50 {common.fmt_summary(e['p50_ms'], '%.2f')} ms, p99 "
                f"{common.fmt_summary(e['p99_ms'], '%.2f')} ms, {e['rounds'][-1]['bytes']} "
                "bytes"
            )
            if "wrk_t1_c4_10s_req_per_sec" in e:
                line += f", wrk {common.fmt_summary(e['wrk_t1_c4_10s_req_per_sec'])} req/s"
            print(line, flush=True)
        common.save(
            f"mailyard_http_w{args.workers}{'_postgresql' if args.database_url else ''}.json", out
        )
    finally:
        common.stop_process(proc, sig=signal.SIGTERM)


if __name__ == "__main__":
    main()
