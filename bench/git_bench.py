"""Hosted git repositories: `git clone` over git://, Mailyard's smart HTTP and SSH, and
the latency of the repository's web pages, on one generated 10,000-commit repository.

usage: .venv/bin/python bench/git_bench.py [--commits 10000] [--runs 3] [--requests 50]
                                           [--workers 1] [--rebuild] [--quick]

The history (bench/git_history.py: a few hundred files in directories, commits touching a
few files each, topic branches merged back, renames, tags, and one 2,000-line file that a
fifth of the commits change) is made with `git fast-import` and `git gc --aggressive`
once per recipe, in $BENCH_WORK/git-history/<hash of the recipe>/big.git, and reused
(--rebuild makes it again).

Each run of the script: a fresh data directory $BENCH_WORK/mailyard-git (SQLite),
`mailyard user create bench`, `mailyard repo create ~bench/big`, and the cached history
put into that repository's directory (its pack and refs copied in: no Mailyard code runs,
so no push is recorded). That one bare repository is then served three ways at once:
  git://   `git daemon --export-all --base-path=<repos dir>` on a free port: the
           protocol's ceiling (no authentication, no HTTP)
  http     `mailyard serve` (gunicorn, --workers workers), http://127.0.0.1:P/~bench/big
  ssh      a real sshd on a free loopback port whose AuthorizedKeysCommand is
           `mailyard ssh authorized-keys` (the README's sshd_config block, made root's),
           ssh://root@127.0.0.1:P/~bench/big, with an ed25519 key registered to ~bench
  plain ssh  the SSH ceiling: another sshd whose authorized_keys file holds the client's
           key, ssh://root@127.0.0.1:P/<the repository's path> (git-upload-pack, no
           Mailyard process)
Clone: `git clone --bare` (the full history, no checkout: the transfer and the client's
index-pack, not the writing of a work tree), --runs times each, median and min in
seconds and the ratio of the median to git://'s; every clone is checked to end at the
same main. The ls-remote column is the median of --runs `git ls-remote URL HEAD`: what
one connection costs before any pack is sent (SSH: sshd's AuthorizedKeysCommand and the
forced command, each a `mailyard` process). Web: --requests sequential GETs on one
keep-alive connection per page (after 5 warm-up requests; 120 s cap a page), p50 and
p99, of the summary, a tree, the 2,000-line file's page and its blame, a commit that
changes it, and the log's first page and a deep one (`?after=` the commit half-way down
main). There is no peer for the web part in this run; under the table is what `git blame
--porcelain` of the file alone takes (the blame page's floor). A transport or page that
is not there (404; no `mailyard ssh` command; not root, so sshd cannot log anyone in) is
skipped with a line saying why.
--quick: 300 commits, 1 run, 5 requests (what the test runs).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import git_history  # noqa: E402
from web_bench import latency_round  # noqa: E402

HISTORY = common.WORK / "git-history"
DATA_DIR = common.WORK / "mailyard-git"
OWNER, NAME = "bench", "big"
REPO_PATH = f"/~{OWNER}/{NAME}"
SSHD = Path("/usr/sbin/sshd")
BIG = git_history.BIG_FILE
QUICK = {"commits": 300, "runs": 1, "requests": 5}


@dataclass
class Transport:
    name: str
    url: str = ""
    skipped: str = ""  # why it was not measured
    env: dict[str, str] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    ls_remote: list[float] = field(default_factory=list)  # the cost of a connection alone
    protocol: str = ""
    config: str = ""  # where the server's configuration came from, when it matters


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """git as a plain user runs it: no GIT_* or MAILYARD_* of ours, an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MAILYARD_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", **extra)
    env.pop("SSH_AUTH_SOCK", None)
    return env


def git(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    r = subprocess.run(["git", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


# --- the repository --------------------------------------------------------------------


def cached_history(recipe: git_history.Recipe, rebuild: bool) -> tuple[Path, dict]:
    """The bare repository of `recipe`, made now unless the cache holds it."""
    directory = HISTORY / recipe.key()
    repo, marker = directory / "big.git", directory / "made.json"
    if marker.exists() and not rebuild:
        made = json.loads(marker.read_text())
        made["made_now"] = False
        return repo, made
    directory.mkdir(parents=True, exist_ok=True)
    print(f"generating {recipe.commits} commits in {repo}", flush=True)
    t = time.perf_counter()
    made = git_history.generate(recipe, repo)
    made["seconds"] = time.perf_counter() - t
    made["recipe"] = recipe.__dict__
    made["pack_bytes"] = sum(p.stat().st_size for p in (repo / "objects" / "pack").iterdir())
    marker.write_text(json.dumps(made, indent=1))
    made["made_now"] = True
    return repo, made


def put_history(source: Path, target: Path) -> None:
    """The cached repository's objects and refs into Mailyard's (empty) repository: its
    pack files (hard links when they can be) and packed-refs."""
    for sub in ("objects/pack", "objects/info"):
        (target / sub).mkdir(parents=True, exist_ok=True)
        for f in sorted((source / sub).iterdir()):
            if f.is_dir():
                continue
            try:
                os.link(f, target / sub / f.name)
            except OSError:
                shutil.copy2(f, target / sub / f.name)
    shutil.copy2(source / "packed-refs", target / "packed-refs")


def pick_commits(repo: Path) -> dict[str, str]:
    """The commit whose page is measured (half-way down the big file's history, not a
    merge) and the `?after=` of the deep log page (half-way down main)."""
    main = git("-C", str(repo), "rev-list", git_history.BRANCH).split()
    big = git(
        "-C",
        str(repo),
        "rev-list",
        "--no-merges",
        git_history.BRANCH,
        "--",
        git_history.BIG_FILE,
    ).split()
    return {"main": main[0], "commit": big[len(big) // 2], "deep": main[len(main) // 2]}


# --- servers ---------------------------------------------------------------------------


def start(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def git_daemon(repos_dir: Path, port: int, log: Path) -> subprocess.Popen:
    return start(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={repos_dir}",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--informative-errors",
        ],
        log,
    )


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def http_transport(port: int, home: Path) -> Transport:
    t = Transport("http", f"http://127.0.0.1:{port}{REPO_PATH}", env=client_env(home))
    status, headers, _ = get(port, f"{REPO_PATH}/info/refs?service=git-upload-pack")
    kind = headers.get("content-type", "")
    if status == 404:
        t.skipped = (
            f"GET {REPO_PATH}/info/refs answers 404: no smart HTTP endpoint in this code "
            "yet (helper http's, after the merge)"
        )
    elif status != 200 or "git-upload-pack" not in kind:
        t.skipped = f"GET {REPO_PATH}/info/refs answers {status} {kind!r}, not git's"
    return t


def has_ssh_command(env: dict[str, str]) -> bool:
    r = subprocess.run(
        [common.mailyard_bin(), "ssh", "--help"], env=env, capture_output=True, timeout=60
    )
    return r.returncode == 0


def register_key(env: dict[str, str], public_key: str) -> None:
    """The key as ~bench's (accounts.ssh_keys, as /account does; no CLI adds one)."""
    code = (
        "import sys\n"
        "from sqlalchemy import select\n"
        "from accounts.models import User\n"
        "from accounts.ssh_keys import add_ssh_key\n"
        "from core.db import session_scope\n"
        "with session_scope() as s:\n"
        f"    u = s.scalar(select(User).where(User.username == {OWNER!r}))\n"
        "    add_ssh_key(s, u, sys.argv[1])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, public_key],
        env=env,
        cwd=common.REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise RuntimeError(f"registering the SSH key failed: {r.stderr.strip()}")


SSHD_COMMON = (
    "ListenAddress 127.0.0.1\n"
    "PidFile none\n"
    "UsePAM no\n"
    "PermitRootLogin prohibit-password\n"
    "PasswordAuthentication no\n"
    "KbdInteractiveAuthentication no\n"
    "LogLevel VERBOSE\n"
)


def mailyard_sshd_config(data_dir: Path) -> tuple[str, str]:
    """The `Match User git` block of the README (a built-in copy of it while the README
    has none) made this run's, and where it came from: root is the git user (an sshd run
    by root logs in only root here), the venv's Python runs `mailyard`."""
    mailyard = f"{sys.executable} -m mailyard --data-dir {data_dir}"
    readme = common.REPO / "README.md"
    text = readme.read_text() if readme.exists() else ""
    blocks = re.findall(r"```sshd_config\n(.*?)```", text, re.S)
    if len(blocks) == 1 and "Match User git" in blocks[0]:
        block = (
            blocks[0]
            .replace("/opt/mailyard/venv/bin/mailyard --data-dir /var/lib/mailyard", mailyard)
            .replace("/opt/mailyard/venv/bin/mailyard", mailyard)
            .replace("/var/lib/mailyard", str(data_dir))
            .replace("Match User git", "Match User root")
            .replace("AuthorizedKeysCommandUser git", "AuthorizedKeysCommandUser root")
        )
        return "AuthorizedKeysFile none\n" + block, "the README's sshd_config block"
    block = (
        "Match User root\n"
        f"    AuthorizedKeysCommand {mailyard} ssh authorized-keys %u %t %k\n"
        "    AuthorizedKeysCommandUser root\n"
        "    AuthorizedKeysFile none\n"
        "    PasswordAuthentication no\n"
        "    AcceptEnv GIT_PROTOCOL\n"
    )
    return "AuthorizedKeysFile none\n" + block, "built in (the README has no sshd_config block)"


def ssh_unavailable() -> str:
    """Why no sshd can log anyone in here ('' when it can)."""
    if not SSHD.exists() or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        return "OpenSSH is missing (apt-get install openssh-server openssh-client)"
    if os.geteuid() != 0:
        return "sshd must run as root to log anyone in (this benchmark logs in as root)"
    return ""


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; its public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def start_sshd(directory: Path, config_tail: str, procs: list) -> int:
    """sshd in the foreground on a free loopback port with its own host key and
    `config_tail` after the common lines; its port."""
    keygen(directory / "host_key")
    port = common.free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nHostKey {directory / 'host_key'}\n" + SSHD_COMMON + config_tail
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation dir
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"sshd -t: {checked.stderr.strip()}")
    proc = start([str(SSHD), "-D", "-e", "-f", str(config)], directory / "sshd.log")
    procs.append(proc)
    common.wait_for_port(port, proc, timeout=30)
    return port


def ssh_client_env(home: Path, key: Path, port: int) -> dict[str, str]:
    ssh = ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port)]
    for option in (
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
        "LogLevel=ERROR",
    ):
        ssh += ["-o", option]
    return client_env(home, GIT_SSH_COMMAND=shlex.join(ssh))


def plain_ssh_transport(repo: Path, data_dir: Path, home: Path, procs: list) -> Transport:
    """The SSH ceiling: a plain sshd whose authorized_keys holds the client's key, and
    git-upload-pack on the repository's path (no Mailyard process in the way)."""
    t = Transport("plain ssh")
    t.skipped = ssh_unavailable()
    if t.skipped:
        return t
    directory = data_dir / "sshd-plain"
    directory.mkdir()
    (directory / "authorized_keys").write_text(keygen(directory / "client_key") + "\n")
    port = start_sshd(
        directory,
        # not StrictModes: the file is in the temp directory, which everyone may write
        f"StrictModes no\nAuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "AcceptEnv GIT_PROTOCOL\n",
        procs,
    )
    t.url = f"ssh://root@127.0.0.1:{port}{repo}"
    t.env = ssh_client_env(home, directory / "client_key", port)
    return t


def ssh_transport(
    env: dict[str, str], data_dir: Path, http_port: int, home: Path, procs: list
) -> Transport:
    """sshd with Mailyard's AuthorizedKeysCommand, and a client key registered to ~bench;
    skipped (with why) when this code or this machine cannot."""
    t = Transport("ssh")
    if not has_ssh_command(env):
        t.skipped = "no `mailyard ssh` command in this code yet (helper ssh's, after the merge)"
        return t
    t.skipped = ssh_unavailable()
    if t.skipped:
        return t
    directory = data_dir / "sshd"
    directory.mkdir()
    # sshd clears the environment of the commands it runs: the settings go in the file.
    settings = {
        "domain": common.DOMAIN,
        "base_url": f"http://127.0.0.1:{http_port}",
        "ssh_user": "root",
    }
    (data_dir / "mailyard.toml").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    )
    register_key(env, keygen(directory / "client_key"))
    config, t.config = mailyard_sshd_config(data_dir)
    port = start_sshd(directory, config, procs)
    print(f"ssh: sshd_config from {t.config}", flush=True)
    t.url = f"ssh://root@127.0.0.1:{port}{REPO_PATH}"
    t.env = ssh_client_env(home, directory / "client_key", port)
    return t


# --- measures --------------------------------------------------------------------------


def protocol_of(t: Transport) -> str:
    """The protocol version git spoke (from its packet trace of an ls-remote)."""
    r = subprocess.run(
        ["git", "ls-remote", t.url, "HEAD"],
        env={**t.env, "GIT_TRACE_PACKET": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise RuntimeError(f"git ls-remote {t.url} failed: {r.stderr.strip()[-2000:]}")
    return "v2" if re.search(r"< version 2", r.stderr) else "v0"


def clone_runs(t: Transport, runs: int, scratch: Path, main_sha: str) -> None:
    t.protocol = protocol_of(t)
    for _ in range(runs):
        start_time = time.perf_counter()
        git("ls-remote", t.url, "HEAD", env=t.env, timeout=120)
        t.ls_remote.append(time.perf_counter() - start_time)
    for i in range(runs):
        dest = scratch / f"clone-{t.name}-{i}"
        start_time = time.perf_counter()
        git("clone", "--bare", "-q", t.url, str(dest), env=t.env, timeout=1800)
        t.seconds.append(time.perf_counter() - start_time)
        got = git("-C", str(dest), "rev-parse", git_history.BRANCH, env=t.env).strip()
        if got != main_sha:
            raise RuntimeError(f"the {t.name} clone's main is {got}, not {main_sha}")
        shutil.rmtree(dest)
        print(f"clone {t.name} run {i}: {t.seconds[-1]:.2f} s", flush=True)


def web_pages(shas: dict[str, str]) -> dict[str, str]:
    big, branch = git_history.BIG_FILE, git_history.BRANCH
    return {
        "summary": REPO_PATH,
        "tree (directory)": f"{REPO_PATH}/tree/{branch}/item/{git_history.TREE_DIR}",
        "blob page, 2,000 lines": f"{REPO_PATH}/tree/{branch}/item/{big}",
        "commit": f"{REPO_PATH}/commit/{shas['commit']}",
        "blame, 2,000 lines": f"{REPO_PATH}/blame/{branch}/item/{big}",
        "log, first page": f"{REPO_PATH}/log/{branch}",
        "log, deep page": f"{REPO_PATH}/log/{branch}?after={shas['deep']}",
    }


def measure_page(port: int, path: str, requests: int) -> dict:
    status, _, body = get(port, path)
    if status != 200:
        why = "no such page in this code yet (helper browse's, after the merge)"
        return {
            "path": path,
            "skipped": f"answers {status}" + (f": {why}" if status == 404 else ""),
        }
    result = latency_round(port, path, requests)
    result["path"] = path
    return result


def blame_floor(repo: Path, runs: int) -> float:
    """Milliseconds `git blame --porcelain` itself takes on the big file (median): the
    work under the blame page, which no server does faster by running git."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        git("-C", str(repo), "blame", "--porcelain", git_history.BRANCH, "--", BIG)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


# --- the report ------------------------------------------------------------------------


def print_table(
    transports: list[Transport], pages: dict[str, dict], made: dict, floor_ms: float, args
) -> None:
    print(
        f"\n~{OWNER}/{NAME}: {made['commits']} commits ({made['merges']} merges, "
        f"{made['tags']} tags), pack {made['pack_bytes'] / 1048576:.1f} MiB",
        flush=True,
    )
    print(f"\ngit clone --bare (full history, no checkout), {args.runs} run(s):")
    print(
        f"{'transport':<10} {'protocol':<9} {'median s':>9} {'min s':>8} {'x git://':>9} "
        f"{'ls-remote s':>12}"
    )
    ceiling = None
    for t in transports:
        if t.skipped:
            print(f"{t.name:<10} skipped: {t.skipped}")
            continue
        median = statistics.median(t.seconds)
        ceiling = ceiling or median
        print(
            f"{t.name:<10} {t.protocol:<9} {median:>9.2f} {min(t.seconds):>8.2f} "
            f"{median / ceiling:>9.2f} {statistics.median(t.ls_remote):>12.3f}"
        )
    print(f"\nweb, {args.requests} sequential GETs a page (no peer in this run):")
    print(f"{'page':<24} {'p50 ms':>9} {'p99 ms':>9} {'bytes':>9}")
    for name, r in pages.items():
        if "skipped" in r:
            print(f"{name:<24} skipped: {r['path']} {r['skipped']}")
        else:
            print(f"{name:<24} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['bytes']:>9}")
    print(
        f"floor: `git blame --porcelain {git_history.BRANCH} -- {git_history.BIG_FILE}` "
        f"alone takes {floor_ms:.2f} ms (median of {max(3, args.runs)})"
    )
    print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3, help="clones per transport")
    ap.add_argument("--requests", type=int, default=50, help="GETs per web page")
    ap.add_argument("--workers", type=int, default=1, help="MAILYARD_WEB_WORKERS (default 1)")
    ap.add_argument("--rebuild", action="store_true", help="generate the history again")
    ap.add_argument("--quick", action="store_true", help="300 commits, 1 run, 5 requests")
    args = ap.parse_args()
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    if args.commits < 2 or args.runs < 1 or args.requests < 1:
        raise SystemExit("--commits must be at least 2, --runs and --requests at least 1")
    common.code_fingerprint()

    recipe = git_history.Recipe(commits=args.commits)
    source, made = cached_history(recipe, args.rebuild)
    how = f"made in {made['seconds']:.1f} s" if made["made_now"] else "from the cache"
    print(f"history: {made['commits']} commits, {how}", flush=True)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    DATA_DIR.mkdir(parents=True)
    http_port = common.free_port()
    env = common.mailyard_env(
        DATA_DIR,
        http_listen=f"127.0.0.1:{http_port}",
        base_url=f"http://127.0.0.1:{http_port}",
        smtp_listen=f"127.0.0.1:{common.free_port()}",
        web_workers=str(args.workers),
    )
    common.run_mailyard(env, "user", "create", OWNER, f"{OWNER}@example.org")
    out = common.run_mailyard(env, "repo", "create", f"~{OWNER}/{NAME}")
    target = Path(out.strip().rsplit(" in ", 1)[1])
    put_history(source, target)
    shas = pick_commits(target)
    if shas["main"] != pick_commits(source)["main"]:
        raise SystemExit("the repository's main is not the generated history's")
    repos_dir = target.parent.parent

    scratch = Path(tempfile.mkdtemp(prefix="git-bench-", dir=common.WORK))
    home = scratch / "home"
    home.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        daemon_port = common.free_port()
        procs.append(git_daemon(repos_dir, daemon_port, DATA_DIR / "git-daemon.log"))
        common.wait_for_port(daemon_port, procs[-1], timeout=30)
        serve_log = DATA_DIR / "serve.log"
        serve = start([common.mailyard_bin(), "serve"], serve_log, env)
        procs.append(serve)
        try:
            common.wait_for_port(http_port, serve, timeout=90)
        except (RuntimeError, TimeoutError) as e:
            raise SystemExit(f"{e}\n--- serve log:\n{common.tail(serve_log)}") from None
        transports = [
            Transport(
                "git://",
                f"git://127.0.0.1:{daemon_port}/{OWNER}/{NAME}.git",
                env=client_env(home),
            ),
            http_transport(http_port, home),
            plain_ssh_transport(target, DATA_DIR, home, procs),
            ssh_transport(env, DATA_DIR, http_port, home, procs),
        ]
        for t in transports:
            if t.skipped:
                print(f"{t.name}: skipped: {t.skipped}", flush=True)
            else:
                clone_runs(t, args.runs, scratch, shas["main"])
        pages = {}
        for name, path in web_pages(shas).items():
            pages[name] = measure_page(http_port, path, args.requests)
            r = pages[name]
            print(
                f"{name}: " + (r["skipped"] if "skipped" in r else f"p50 {r['p50_ms']:.2f} ms"),
                flush=True,
            )
        if serve.poll() is not None:
            raise SystemExit(f"mailyard serve died\n{common.tail(serve_log)}")
        floor_ms = blame_floor(target, max(3, args.runs))
        print_table(transports, pages, made, floor_ms, args)
        common.save(
            f"mailyard_git_{args.commits}.json",
            {
                "history": made,
                "commits_picked": shas,
                "clone": {
                    t.name: {
                        "url": t.url,
                        "skipped": t.skipped,
                        "protocol": t.protocol,
                        "config": t.config,
                        "seconds": t.seconds and common.summary(t.seconds),
                        "ls_remote_seconds": t.ls_remote and common.summary(t.ls_remote),
                    }
                    for t in transports
                },
                "clone_command": "git clone --bare -q URL",
                "web": pages,
                "git_blame_porcelain_ms": floor_ms,
                "requests_per_page": args.requests,
                "server": f"mailyard serve (gunicorn gthread, {args.workers} worker(s))",
                "machine": common.machine(),
                "code": common.code_fingerprint(),
            },
        )
    finally:
        for proc in reversed(procs):
            common.stop_process(proc, sig=signal.SIGTERM)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
