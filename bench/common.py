"""Helpers shared by Mailyard's benchmarks (standard library, plus SQLAlchemy from the venv).

The conventions are those of the peer benchmarks in `../shared/bench/` so that the
figures can be set beside public-inbox's: scratch data in `$BENCH_WORK` (default a
`mailyard-bench` folder in the temp directory), the decompressed corpus in
`$BENCH_WORK/data/` (the same files the peer scripts decompress), results as JSON in
`$BENCH_RESULTS` (default `$BENCH_WORK/results`), median and min-max over `--runs` runs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"
WORK = Path(os.environ.get("BENCH_WORK", os.path.join(tempfile.gettempdir(), "mailyard-bench")))
DATA = WORK / "data"
RESULTS = Path(os.environ.get("BENCH_RESULTS", str(WORK / "results")))
LIST_NAME = "pytest-dev"
DOMAIN = "lists.example.org"  # the corpus's own list address is pytest-dev@lists.example.org
OWNER = "owner@example.org"
CORPUS_MESSAGES = 20_000


def mailyard_bin() -> str:
    """The venv's `mailyard` command (next to the interpreter running the benchmark)."""
    venv = REPO / ".venv" / "bin" / "mailyard"
    for candidate in (venv, Path(sys.executable).parent / "mailyard"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("mailyard")
    if not found:
        raise SystemExit("no `mailyard` command: install the project into .venv first")
    return found


def add_shared_arg(ap) -> None:
    ap.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help="the shared/ folder holding corpus/generated (default: %(default)s)",
    )


def corpus_file(shared: Path, name: str) -> Path:
    """`$BENCH_WORK/data/NAME`, decompressed from SHARED/corpus/generated/NAME.xz on first use
    (the same path and rule as the peer scripts' common.data_path)."""
    DATA.mkdir(parents=True, exist_ok=True)
    dst = DATA / name
    if not dst.exists():
        src = Path(shared) / "corpus" / "generated" / (name + ".xz")
        if not src.exists():
            raise SystemExit(f"{src}: no such corpus file (see --shared)")
        tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            subprocess.run(["xz", "-dc", str(src)], stdout=f, check=True)
        os.replace(tmp, dst)
    return dst


def load_truth(shared: Path, corpus: str = "medium") -> dict:
    with open(corpus_file(shared, f"{corpus}.truth.json")) as f:
        return json.load(f)


def split_mboxrd(data: bytes) -> list[bytes]:
    """Split an mboxrd byte string into messages (From_ line removed, >From unescaped);
    the same splitter as the peer scripts."""
    parts = re.split(rb"(?:^|\n\n)(?=From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n)", data)
    out = []
    for p in parts:
        if not p.startswith(b"From "):
            continue
        body = p.split(b"\n", 1)[1]
        out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", body))
    return out


def pick_thread(truth: dict, size: int = 10) -> str:
    """The root of the thread the public-inbox HTTP benchmark uses (pi_http_bench.py's
    pick_thread, copied so that both measure the same page)."""
    c = Counter(m["thread_root"] for m in truth["messages"] if m["kind"] != "duplicate")
    kinds = {m["message_id"]: m["kind"] for m in truth["messages"]}
    cands = sorted(k for k, v in c.items() if v == size and kinds.get(k) in ("cover", "patch"))
    return cands[len(cands) // 2]


def pct(vals: list[float], p: float) -> float:
    """Percentile by nearest rank, as pi_http_bench.py computes it."""
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": [round(v, 3) for v in values],
    }


def fmt_summary(s: dict, fmt: str = "%.0f") -> str:
    return f"{fmt % s['median']} ({fmt % s['min']}–{fmt % s['max']})"


def print_rows(rows: list[tuple[str, str]]) -> None:
    """The (measure, figure) rows as a Markdown table, ready for a README."""
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure':<{width}} | figure |")
    print(f"|{'-' * (width + 2)}|---|")
    for name, figure in rows:
        print(f"| {name:<{width}} | {figure} |")


def save(name: str, obj: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
    print("wrote", path, flush=True)
    return path


def machine() -> dict:
    info: dict = {"nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
            info["cpu"] = names[0]
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 1048576, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def git_head() -> str:
    r = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return r.stdout.strip() or "(no commit)"


@functools.cache
def code_fingerprint() -> dict:
    """What code was measured (the sources change while the project is being written): a
    hash of the Python sources of the packages and their newest modification time, taken
    at the first call (the scripts call it when they start)."""
    import hashlib

    h = hashlib.sha1()
    newest = 0.0
    for pkg in ("mailyard", "mta", "archive", "web", "patchsets"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
            newest = max(newest, path.stat().st_mtime)
    return {
        "sha1": h.hexdigest()[:12],
        "git_head": git_head(),
        "newest_source": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest)),
    }


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- processes and ports -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"the server exited with status {proc.returncode} before "
                f"listening on 127.0.0.1:{port}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def mailyard_env(
    data_dir: Path, database_url: str = "", broker_url: str = "", **settings: str
) -> dict[str, str]:
    """The environment for a `mailyard` command: no inherited MAILYARD_* variable, the data
    directory, the corpus's domain, and the given settings (KEY=value -> MAILYARD_KEY)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILYARD_")}
    env["MAILYARD_DATA_DIR"] = str(data_dir)
    env["MAILYARD_DOMAIN"] = DOMAIN
    # No benchmark measures submission; off, so that none takes the default port 2587.
    env["MAILYARD_SUBMISSION_LISTEN"] = ""
    if database_url:
        env["MAILYARD_DATABASE_URL"] = database_url
    if broker_url:
        env["MAILYARD_BROKER_URL"] = broker_url
    for key, value in settings.items():
        env["MAILYARD_" + key.upper()] = str(value)
    return env


def run_mailyard(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """Run `mailyard ARGS`, raising with its output when it fails."""
    r = subprocess.run(
        [mailyard_bin(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if r.returncode != 0:
        raise RuntimeError(
            f"mailyard {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        )
    return r.stdout


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
    """Stop a server we started: SIGINT (or `sig`) to its pid, then SIGKILL to the process
    group it was started in (start_new_session=True) if it does not stop in time."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=10)


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --- PostgreSQL ------------------------------------------------------------------------


def recreate_postgres(url: str) -> None:
    """Drop and create the database named in `url` (through the server's `postgres` db)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = u.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"--database-url needs a plain database name, got {name!r}")
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def drop_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def count_messages(url: str, status: str | None = None) -> int:
    """Rows in `messages` (with that status), through SQLAlchemy on the server's own URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            if status is None:
                return c.execute(text("SELECT count(*) FROM messages")).scalar_one()
            return c.execute(
                text("SELECT count(*) FROM messages WHERE status = :s"), {"s": status}
            ).scalar_one()
    finally:
        engine.dispose()


# --- peak memory ---------------------------------------------------------------------


def _ppid_map() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    return children


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    if children is None:
        children = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class MemorySampler(threading.Thread):
    """Samples, while a command runs: the peak (VmHWM) of its main process, and the sum of
    the RSS of every process in its tree (shared pages counted once per process)."""

    def __init__(self, root_pid: int, wrapped: bool, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.wrapped = wrapped  # root is /usr/bin/time: the command is its only child
        self.interval = interval
        self.main_pid: int | None = None if wrapped else root_pid
        self.main_hwm_kib = 0
        self.tree_rss_kib = 0
        self.max_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            children = _children_map()
            tree = descendants(self.root_pid, children)
            if self.main_pid is None and children.get(self.root_pid):
                self.main_pid = children[self.root_pid][0]  # the command time runs
            if self.main_pid is not None:
                self.main_hwm_kib = max(self.main_hwm_kib, _status_kib(self.main_pid, "VmHWM"))
            pids = tree if self.wrapped else [self.root_pid, *tree]
            self.tree_rss_kib = max(self.tree_rss_kib, sum(_status_kib(p, "VmRSS") for p in pids))
            self.max_processes = max(self.max_processes, len(pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def run_measured(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    """Run `cmd`, timing its wall clock and measuring its memory.

    `max_rss_mib`: the largest peak RSS of any single process of the command (the command
    and every child it waited for), from `/usr/bin/time -v` when present, else from
    getrusage(RUSAGE_CHILDREN) (then a maximum over every child this script has waited
    for so far). `main_peak_rss_mib`: the command's own process (VmHWM, sampled every
    0.25 s). `tree_rss_mib`: the largest sampled sum of RSS over the process tree.
    """
    import resource

    gnu_time = Path("/usr/bin/time")
    wrapped = gnu_time.exists()
    time_out = None
    argv = cmd
    if wrapped:
        fd, time_out = tempfile.mkstemp(prefix="bench-time-", suffix=".txt")
        os.close(fd)
        argv = [str(gnu_time), "-v", "-o", time_out, *cmd]
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out_f, stderr=err_f)
    sampler = MemorySampler(proc.pid, wrapped)
    sampler.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        seconds = time.perf_counter() - start
        sampler.stop()
    out_f.seek(0)
    err_f.seek(0)
    stdout = out_f.read().decode(errors="replace")
    stderr = err_f.read().decode(errors="replace")
    max_rss_kib, source = 0, ""
    if wrapped and time_out:
        with open(time_out) as f:
            report = f.read()
        os.unlink(time_out)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        if m:
            max_rss_kib, source = int(m.group(1)), "/usr/bin/time -v"
        m = re.search(r"Command terminated by signal (\d+)", report)
        if m:  # time exits 0 here; say the command failed
            rc = -int(m.group(1))
    if not source:
        max_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        source = "getrusage(RUSAGE_CHILDREN)"
    return {
        "seconds": seconds,
        "returncode": rc,
        "stdout": stdout,
        "stderr": stderr,
        "max_rss_mib": max_rss_kib / 1024,
        "max_rss_source": source,
        "main_peak_rss_mib": sampler.main_hwm_kib / 1024,
        "tree_rss_mib": sampler.tree_rss_kib / 1024,
        "max_processes": sampler.max_processes,
    }


def du_bytes(path: Path) -> int:
    r = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0])
    except (IndexError, ValueError):
        return 0
