"""Fan-out of one post to 10,000 subscribers through a real `mailyard serve` into a local
aiosmtpd sink standing in for the relay.

usage: .venv/bin/python bench/fanout_bench.py [--runs 3] [--subscribers 10000]
           [--workers 1] [--no-dkim] [--no-personalize]
           [--database-url postgresql+psycopg://...] [--broker-url redis://127.0.0.1:6379/15]

Each run: a fresh data directory (and database, and FLUSHDB'd Redis database when given),
`mailyard list create pytest-dev`, `mailyard dkim genkey` (so every copy is DKIM-signed,
unless --no-dkim), `mailyard list subscribe` of N addresses, then `mailyard serve` with
MAILYARD_RELAY_URL pointing at the sink and --workers Celery worker processes. A warm-up
post to a second list with one subscriber is waited for at the sink, so the worker is up
before the clock starts. Then one post is sent over SMTP; measured: seconds from its
`250` to the last copy accepted by the sink, and copies/s. The default list is
personalized (one SMTP transaction per subscriber: VERP, own one-click unsubscribe URL,
own signature); --no-personalize sends batches of 100 recipients per transaction.
"""

from __future__ import annotations

import argparse
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

LIST_ADDR = f"{common.LIST_NAME}@{common.DOMAIN}"
WARMUP_LIST = "bench-warmup"


class CountingSink:
    """Counts accepted recipients and remembers when the last one came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.copies = 0
        self.last = 0.0

    async def handle_DATA(self, server, session, envelope):
        now = time.perf_counter()
        with self.lock:
            self.copies += len(envelope.rcpt_tos)
            self.last = now
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.copies >= count:
                    return self.last
            time.sleep(0.05)
        return None


def post(msgid: str, to: str) -> bytes:
    return (
        f"From: Alice <alice@example.com>\r\nTo: {to}\r\nSubject: fan-out bench\r\n"
        f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{msgid}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "A post of a few lines, as most are.\r\n"
        * 40
    ).encode()


def one_run(args, run: int) -> dict:
    data_dir = common.WORK / "mailyard-fanout" / f"run{run}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if args.database_url:
        common.recreate_postgres(args.database_url)
    if args.broker_url:
        import redis

        redis.Redis.from_url(args.broker_url).flushdb()
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=common.free_port())
    controller.start()
    smtp_port = common.free_port()
    env = common.mailyard_env(
        data_dir,
        args.database_url,
        args.broker_url,
        smtp_listen=f"127.0.0.1:{smtp_port}",
        http_listen="",
        relay_url=f"smtp://127.0.0.1:{controller.port}",
        worker_concurrency=str(args.workers),
    )
    common.run_mailyard(env, "list", "create", common.LIST_NAME, "--owner", common.OWNER)
    common.run_mailyard(env, "list", "create", WARMUP_LIST, "--owner", common.OWNER)
    if not args.no_dkim:
        common.run_mailyard(env, "dkim", "genkey")
    if args.no_personalize:
        common.run_mailyard(env, "list", "set", common.LIST_NAME, "--no-personalize")
    addresses = [f"reader{i}@example.net" for i in range(args.subscribers)]
    for i in range(0, len(addresses), 2000):
        common.run_mailyard(env, "list", "subscribe", common.LIST_NAME, *addresses[i : i + 2000])
    common.run_mailyard(env, "list", "subscribe", WARMUP_LIST, "warm@example.net")
    log_path = data_dir / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [common.mailyard_bin(), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        common.wait_for_port(smtp_port, proc, timeout=60)
        warm_to = f"{WARMUP_LIST}@{common.DOMAIN}"
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as s:
            s.sendmail("alice@example.com", [warm_to], post(f"warm{run}@example.com", warm_to))
        if sink.wait_for(1, timeout=120) is None:
            raise RuntimeError(f"the warm-up copy never came\n{common.tail(log_path)}")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as s:
            s.ehlo()
            t_data = time.perf_counter()
            s.sendmail("alice@example.com", [LIST_ADDR], post(f"post{run}@example.com", LIST_ADDR))
        t_250 = time.perf_counter()
        last = sink.wait_for(1 + args.subscribers, timeout=args.timeout)
        if last is None:
            raise RuntimeError(
                f"only {sink.copies - 1} of {args.subscribers} copies in {args.timeout} s\n"
                + common.tail(log_path)
            )
    finally:
        common.stop_process(proc)
        controller.stop()
    seconds = last - t_250
    return {
        "seconds": seconds,
        "copies_per_s": args.subscribers / seconds,
        # MAIL FROM to 250: the archive write plus the fan-out rows, in one transaction
        "accept_ms": (t_250 - t_data) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    ap.add_argument("--no-dkim", action="store_true")
    ap.add_argument("--no-personalize", action="store_true")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--broker-url", default="")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    runs = []
    for run in range(args.runs):
        result = one_run(args, run)
        runs.append(result)
        print(
            f"run {run + 1}: {result['seconds']:.1f} s, {result['copies_per_s']:.0f} copies/s,"
            f" post accepted in {result['accept_ms']:.0f} ms",
            flush=True,
        )
    secs = common.summary([r["seconds"] for r in runs])
    rate = common.summary([r["copies_per_s"] for r in runs])
    accept = common.summary([r["accept_ms"] for r in runs])
    backend = "postgresql" if args.database_url else "sqlite"
    mode = "batched" if args.no_personalize else "personalized"
    print(
        f"fan-out to {args.subscribers} ({backend}, {args.workers} worker(s), {mode},"
        f" dkim {'off' if args.no_dkim else 'on'}): {common.fmt_summary(secs, '%.1f')} s,"
        f" {common.fmt_summary(rate)} copies/s; the post's 250 after"
        f" {common.fmt_summary(accept)} ms"
    )
    common.save(
        f"fanout-{backend}-{args.workers}w-{mode}",
        {
            "what": "seconds from the 250 of one post to the last copy accepted by the sink",
            "subscribers": args.subscribers,
            "workers": args.workers,
            "mode": mode,
            "dkim": not args.no_dkim,
            "database": common.safe_url(args.database_url) if args.database_url else "sqlite",
            "broker": args.broker_url or "sqla+sqlite",
            "runs": runs,
            "seconds": secs,
            "copies_per_s": rate,
            "accept_ms": accept,
            "machine": common.machine(),
            "code": common.code_fingerprint(),
        },
    )


if __name__ == "__main__":
    main()
