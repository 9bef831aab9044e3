"""SMTP intake throughput of a real `mailyard serve`, and the time until all is archived.

usage: .venv/bin/python bench/smtp_bench.py [--runs 3] [--count 10000] [--connections 4]
           [--database-url postgresql+psycopg://...] [--broker-url redis://127.0.0.1:6379/15]

Each run: a fresh data directory (and, with --database-url, a freshly created database;
with --broker-url, that Redis database is FLUSHDB'd: give the benchmark one of its own),
MAILYARD_DOMAIN=lists.example.org, `mailyard list create pytest-dev`, then `mailyard
serve` (intake and worker; the web UI is off unless --with-web) on a free port of
127.0.0.1, with durability on (the defaults: SQLite in WAL mode, synchronous=FULL; every
`250` comes after the commit). One warm-up message to a second list is sent and waited
for until archived, so that the worker is up before the clock starts.

The messages: the medium corpus in order, as their authors would have sent them: the
List-Id and List-Post headers the list added on the way out are removed (with them the
list would drop every message as a loop), the list address is added to To if it is in
neither To nor Cc, line ends are CRLF. Messages the list's default policy refuses (an
HTML part: the corpus's multipart/alternative mails, per the ground truth) are skipped,
so --count messages that the list accepts are sent (10,000: the first 12,046 of the
corpus less 2,046 with HTML); with --include-refused the first --count messages are sent
as they are and the refusals counted. The corpus's re-deliveries among them (9 of the
10,000) are accepted and dropped by intake (stored once).

--connections threads (smtplib), each with one connection reused for its share of the
messages (message i goes to connection i mod N, so arrival order is kept roughly), MAIL
FROM the author, RCPT TO pytest-dev@lists.example.org. Connections are opened and EHLO'd
before the clock starts. Measured:
  smtp msgs/s        accepted messages / (last 250 - first MAIL FROM)
  end-to-end msgs/s  messages to archive / (all archived - first MAIL FROM), polling
                     `SELECT count(*) FROM messages WHERE status = 'archived'` every 0.25 s
                     through SQLAlchemy on the server's own database URL
"""

from __future__ import annotations

import argparse
import email.utils
import json
import re
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

LIST_ADDR = f"{common.LIST_NAME}@{common.DOMAIN}"
WARMUP_LIST = "bench-warmup"
MAX_RECONNECTS = 5


def _header_block(raw: bytes) -> tuple[bytes, bytes]:
    head, sep, body = raw.partition(b"\n\n")
    return head, sep + body


def _unfolded(head: bytes) -> list[bytes]:
    """Header fields of a header block, each with its continuation lines."""
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    return fields


def as_posted(raw: bytes) -> tuple[bytes, str]:
    """The message as its author sent it to the list, CRLF line ends; and its sender."""
    head, body = _header_block(raw.replace(b"\r\n", b"\n"))
    fields = [f for f in _unfolded(head) if not f.lower().startswith(b"list-")]
    to = [f for f in fields if f.lower().startswith((b"to:", b"cc:"))]
    if not any(LIST_ADDR.encode() in f.lower() for f in to):
        for i, f in enumerate(fields):
            if f.lower().startswith(b"to:"):
                fields[i] = f + b",\n " + LIST_ADDR.encode()
                break
        else:
            fields.append(b"To: " + LIST_ADDR.encode())
    sender = "bench@example.org"  # for a From with no usable ASCII address
    for f in fields:
        if f.lower().startswith(b"from:"):
            value = f[5:].decode("utf-8", "replace").replace("\n", "")
            m = re.search(r"<([^<>@\s]+@[^<>@\s]+)>", value)
            addr = m.group(1) if m else email.utils.parseaddr(value)[1]
            if "@" in addr and addr.isascii():
                sender = addr
            break
    msg = b"\n".join(fields) + body
    return msg.replace(b"\n", b"\r\n"), sender


def refused_by_policy(truth_msg: dict, mime: dict[str, object]) -> bool:
    """The list's default policy refuses any message with an HTML part (a duplicate has no
    `mime` in the truth: it is the same bytes as the message it duplicates)."""
    found = truth_msg.get("mime") or mime.get(truth_msg.get("duplicate_of") or "")
    return "text/html" in json.dumps(found or {})


def build_messages(shared: Path, count: int, include_refused: bool) -> tuple[list, dict]:
    mbox = common.corpus_file(shared, "medium.mbox")
    raws = common.split_mboxrd(mbox.read_bytes())
    truth = common.load_truth(shared)["messages"]
    if len(truth) != len(raws):
        raise SystemExit(f"corpus and truth disagree: {len(raws)} messages, {len(truth)} in truth")
    mime = {t["message_id"]: t["mime"] for t in truth if "mime" in t}
    out, skipped, used = [], 0, 0
    for raw, t in zip(raws, truth, strict=True):
        if len(out) >= count:
            break
        used += 1
        if not include_refused and refused_by_policy(t, mime):
            skipped += 1
            continue
        msg, sender = as_posted(raw)
        out.append((t["message_id"], sender, msg))
    if len(out) < count:
        raise SystemExit(f"the corpus has only {len(out)} messages to send")
    info = {
        "corpus_messages_used": used,
        "skipped_html": skipped,
        "sent": len(out),
        "distinct_message_ids": len({m[0] for m in out}),
        "bytes": sum(len(m[2]) for m in out),
    }
    return out, info


@dataclass
class Sender:
    port: int
    messages: list
    barrier: threading.Barrier
    accepted: list = field(default_factory=list)  # Message-IDs answered 250
    refused: dict = field(default_factory=dict)  # reply code -> count
    errors: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    t_first: float = 0.0
    t_last: float = 0.0
    t_last_250: float = 0.0

    def connect(self) -> smtplib.SMTP:
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=120)
        s.ehlo("bench.example.org")
        return s

    def run(self) -> None:
        try:
            conn = self.connect()
        except OSError as e:
            self.errors.append(f"connect: {e}")
            self.barrier.abort()
            return
        try:
            self.barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            conn.close()
            return
        self.t_first = time.perf_counter()
        reconnects = 0
        for msgid, sender, raw in self.messages:
            t = time.perf_counter()
            try:
                conn.sendmail(sender, [LIST_ADDR], raw)
                now = time.perf_counter()
                self.accepted.append(msgid)
                self.t_last_250 = now
            except smtplib.SMTPRecipientsRefused as e:
                code = next(iter(e.recipients.values()))[0]
                self.refused[code] = self.refused.get(code, 0) + 1
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
                self.refused[e.smtp_code] = self.refused.get(e.smtp_code, 0) + 1
            except smtplib.SMTPResponseException as e:  # e.g. 451: counted, not retried
                self.refused[e.smtp_code] = self.refused.get(e.smtp_code, 0) + 1
            except (smtplib.SMTPServerDisconnected, OSError) as e:
                self.errors.append(f"{msgid}: {e!r}")
                reconnects += 1
                if reconnects > MAX_RECONNECTS:
                    break
                try:
                    conn.close()
                    conn = self.connect()
                except OSError as e2:
                    self.errors.append(f"reconnect: {e2!r}")
                    break
            except (smtplib.SMTPException, ValueError) as e:  # a bug here, not the server's
                self.errors.append(f"{msgid}: {e!r}")
                try:
                    conn.rset()
                except (smtplib.SMTPException, OSError):
                    break
            self.t_last = time.perf_counter()
            self.latencies.append((self.t_last - t) * 1000)
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


class ArchivedCounter:
    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, text

        self.engine = create_engine(url)
        self.sql = text("SELECT status, count(*) FROM messages GROUP BY status")

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {str(s): n for s, n in c.execute(self.sql)}

    def close(self) -> None:
        self.engine.dispose()


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def warmup_message() -> tuple[str, bytes]:
    msgid = "bench-warmup@example.org"
    raw = (
        f"From: Bench <bench@example.org>\r\nTo: {WARMUP_LIST}@{common.DOMAIN}\r\n"
        f"Subject: warm-up\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{msgid}>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nwarm-up\r\n"
    )
    return msgid, raw.encode()


def wait_archived(
    counter: ArchivedCounter, want: int, timeout: float, interval: float = 0.25
) -> tuple[float | None, dict]:
    """perf_counter() when `want` messages are archived, or None after `timeout`."""
    deadline = time.perf_counter() + timeout
    counts: dict[str, int] = {}
    while time.perf_counter() < deadline:
        counts = counter.counts()
        if counts.get("archived", 0) >= want:
            return time.perf_counter(), counts
        time.sleep(interval)
    return None, counts


def one_run(args, run: int, messages: list) -> dict:
    data_dir = common.WORK / "mailyard-smtp" / f"run{run}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if args.database_url:
        common.recreate_postgres(args.database_url)
    if args.broker_url:
        flush_redis(args.broker_url)
    smtp_port = common.free_port()
    http = f"127.0.0.1:{common.free_port()}" if args.with_web else ""
    env = common.mailyard_env(
        data_dir,
        args.database_url,
        args.broker_url,
        smtp_listen=f"127.0.0.1:{smtp_port}",
        http_listen=http,
        base_url=f"http://{http or '127.0.0.1:8080'}",
        web_workers="1",
        worker_concurrency=str(args.worker_concurrency),
    )
    url = args.database_url or f"sqlite:///{data_dir / 'mailyard.db'}"
    common.run_mailyard(env, "list", "create", common.LIST_NAME, "--owner", common.OWNER)
    common.run_mailyard(env, "list", "create", WARMUP_LIST, "--owner", common.OWNER)
    log_path = data_dir / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [common.mailyard_bin(), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    counter = ArchivedCounter(url)
    try:
        try:
            common.wait_for_port(smtp_port, proc, timeout=60)
        except (RuntimeError, TimeoutError) as e:
            raise RuntimeError(f"{e}\n--- serve log:\n{common.tail(log_path)}") from None
        msgid, raw = warmup_message()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as s:
            s.sendmail("bench@example.org", [f"{WARMUP_LIST}@{common.DOMAIN}"], raw)
        t_warm = time.perf_counter()
        done, _ = wait_archived(counter, 1, timeout=120)
        if done is None:
            raise RuntimeError(
                "the warm-up message was not archived within 120 s\n--- serve "
                f"log:\n{common.tail(log_path)}"
            )
        warmup_seconds = done - t_warm

        n = args.connections
        barrier = threading.Barrier(n)
        senders = [Sender(smtp_port, messages[i::n], barrier) for i in range(n)]
        threads = [threading.Thread(target=s.run) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.timeout)
        if any(t.is_alive() for t in threads):
            raise RuntimeError(f"SMTP senders still running after {args.timeout} s")
        errors = [e for s in senders for e in s.errors]
        accepted_ids = [m for s in senders for m in s.accepted]
        if not accepted_ids:
            raise RuntimeError(
                f"no message accepted; errors: {errors[:5]}\n--- serve log:\n"
                f"{common.tail(log_path)}"
            )
        t0 = min(s.t_first for s in senders if s.t_first)
        t_last_250 = max(s.t_last_250 for s in senders)
        t_last = max(s.t_last for s in senders)
        backlog = counter.counts()
        refused: dict[str, int] = {}
        for s in senders:
            for code, k in s.refused.items():
                refused[str(code)] = refused.get(str(code), 0) + k
        want = 1 + len(set(accepted_ids))  # the warm-up message and every distinct id
        done, counts = wait_archived(counter, want, timeout=args.ingest_timeout)
        smtp_seconds = t_last_250 - t0
        lat = [x for s in senders for x in s.latencies]
        out = {
            "accepted": len(accepted_ids),
            "refused": refused,
            "errors": len(errors),
            "error_samples": errors[:5],
            "smtp_seconds": smtp_seconds,
            "smtp_msgs_per_sec": len(accepted_ids) / smtp_seconds,
            "transactions_seconds": t_last - t0,
            "latency_ms": {
                "p50": common.pct(lat, 50),
                "p90": common.pct(lat, 90),
                "p99": common.pct(lat, 99),
                "max": max(lat),
            },
            "status_when_smtp_done": backlog,
            "to_archive": want - 1,
            "warmup_archived_seconds": warmup_seconds,
        }
        if done is None:
            out.update(e2e_seconds=None, e2e_msgs_per_sec=None, final_counts=counts)
            print(
                f"run {run}: NOT all archived after {args.ingest_timeout:.0f} s: {counts}",
                flush=True,
            )
        else:
            out.update(
                e2e_seconds=done - t0,
                e2e_msgs_per_sec=(want - 1) / (done - t0),
                final_counts=counts,
            )
        print(
            f"run {run}: {len(accepted_ids)} accepted in {smtp_seconds:.1f} s = "
            f"{out['smtp_msgs_per_sec']:.0f} msg/s over {n} connections (p50 "
            f"{out['latency_ms']['p50']:.1f} ms, p99 {out['latency_ms']['p99']:.1f} ms per "
            f"message), refused {refused or 0}, errors {len(errors)}; status when SMTP done "
            f"{backlog}; all {want - 1} archived after "
            + (
                f"{out['e2e_seconds']:.1f} s = {out['e2e_msgs_per_sec']:.0f} msg/s end to end"
                if done is not None
                else "(timeout)"
            ),
            flush=True,
        )
        return out
    finally:
        counter.close()
        rc = common.stop_process(proc)
        if rc not in (0, None):
            print(f"(mailyard serve exited with status {rc}; log {log_path})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument(
        "--include-refused",
        action="store_true",
        help="send the first --count messages, HTML ones too, counting refusals",
    )
    ap.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL; the database is dropped and created for every run",
    )
    ap.add_argument(
        "--broker-url",
        default="",
        help="Celery broker, e.g. redis://127.0.0.1:6379/15 (FLUSHDB'd every run)",
    )
    ap.add_argument(
        "--worker-concurrency",
        type=int,
        default=1,
        help="MAILYARD_WORKER_CONCURRENCY (default %(default)s)",
    )
    ap.add_argument("--with-web", action="store_true", help="let serve start the web UI too")
    ap.add_argument("--timeout", type=float, default=1800, help="cap on the SMTP phase, s")
    ap.add_argument(
        "--ingest-timeout",
        type=float,
        default=1800,
        help="cap on waiting for everything to be archived, s",
    )
    ap.add_argument("--keep-database", action="store_true")
    common.add_shared_arg(ap)
    args = ap.parse_args()
    common.code_fingerprint()  # the code as it is when the measure starts
    if args.broker_url and not re.match(r"redis://", args.broker_url):
        raise SystemExit("--broker-url: only redis:// URLs are flushed and supported here")

    messages, info = build_messages(args.shared, args.count, args.include_refused)
    print(
        f"{info['sent']} messages to send ({info['corpus_messages_used']} corpus messages, "
        f"{info['skipped_html']} with HTML skipped, {info['distinct_message_ids']} distinct "
        f"Message-IDs, {info['bytes'] / 1e6:.1f} MB)",
        flush=True,
    )
    runs = []
    try:
        for r in range(args.runs):
            runs.append(one_run(args, r, messages))
    finally:
        if args.database_url and not args.keep_database:
            common.drop_postgres(args.database_url)
    backend = "postgresql" if args.database_url else "sqlite"
    broker = "redis" if args.broker_url else "sqlite"
    e2e = [x["e2e_msgs_per_sec"] for x in runs if x["e2e_msgs_per_sec"]]
    result = {
        "what": f"SMTP to `mailyard serve` (intake + worker{' + web' if args.with_web else ''}), "
        f"{args.connections} connections, database {backend}, broker {broker}",
        "messages": info,
        "connections": args.connections,
        "worker_concurrency": args.worker_concurrency,
        "database": common.safe_url(args.database_url) if args.database_url else "sqlite",
        "broker": common.safe_url(args.broker_url) if args.broker_url else "sqla+sqlite",
        "code": common.code_fingerprint(),
        "machine": common.machine(),
        "smtp_msgs_per_sec": common.summary([x["smtp_msgs_per_sec"] for x in runs]),
        "smtp_seconds": common.summary([x["smtp_seconds"] for x in runs]),
        "smtp_latency_p50_ms": common.summary([x["latency_ms"]["p50"] for x in runs]),
        "smtp_latency_p99_ms": common.summary([x["latency_ms"]["p99"] for x in runs]),
        "raw": runs,
    }
    if e2e:
        result["e2e_msgs_per_sec"] = common.summary(e2e)
        result["e2e_seconds"] = common.summary([x["e2e_seconds"] for x in runs if x["e2e_seconds"]])
    print(
        f"SMTP ({backend}/{broker}, {args.connections} connections), median (min–max) of "
        f"{len(runs)}: {common.fmt_summary(result['smtp_msgs_per_sec'])} msg/s accepted; "
        "end to end "
        + (
            common.fmt_summary(result["e2e_msgs_per_sec"])
            + " msg/s, "
            + common.fmt_summary(result["e2e_seconds"], "%.1f")
            + " s"
            if e2e
            else "n/a"
        ),
        flush=True,
    )
    suffix = ("" if args.count == 10_000 else f"_n{args.count}") + (
        "_with_refused" if args.include_refused else ""
    )
    common.save(f"mailyard_smtp_{backend}_{broker}_c{args.connections}{suffix}.json", result)


if __name__ == "__main__":
    main()
