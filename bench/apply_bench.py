"""Applying a 20-patch series from the web, beside `git am -3` of the same mbox.

usage: .venv/bin/python bench/apply_bench.py [--runs 5]

The series is the one patchsets_bench.py makes with real git (20 signed-off commits on a
base commit of five 60-line files, each changing three lines in each of three files, sent
as `git format-patch --cover-letter --base -20 --thread=shallow`). Set-up, not timed: a
fresh SQLite data directory ($BENCH_WORK/mailyard-apply), the list pytest-dev linked to the
hosted repository ~bench/project whose main is the base commit, the 21 mails imported with
`import_messages`, the account ~bench (owner of both, so it may apply), `mailyard web`
(gunicorn, 1 worker, as web_bench.py starts it) on a free port, and a browser session:
~bench signs in through /login like anyone.

A dry run first warms the worker up (not timed). Per run:

1. Mailyard: main is set back to the base commit and the patchset back to `proposed`
   (not timed); then the apply form's POST `/pytest-dev/patches/<id>/apply` with the
   form's defaults (keep the Link: trailer), timed from the request to its `303`: the
   series mbox built from the archive (collected trailers, Link:), `git am -3` in a
   temporary worktree, the fast-forward of main, the push recorded, the patchset marked
   `applied` and committed. The push hooks it enqueues run later in a worker (none runs
   here) and are not counted. Checked after each run: main is 20 commits on the base and
   its tree is the author's.
2. The dry run the patchset page shows (the same form with action=check), timed the same.
3. The peer, in the same run: `git clone` of the hosted repository into a fresh directory
   and a checkout of the base commit (not timed), then `git am -3 -q` of the very mbox
   Mailyard serves at `/pytest-dev/patches/<id>/mbox` (fetched once), timed as a process
   from start to exit; its tree is checked too.

Reported: seconds of each (median and min-max over --runs), and Mailyard's apply over
`git am -3` (the ratio of the medians, and per run).

Results: a table at the end and $BENCH_RESULTS/mailyard_apply_20.json.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from sqlalchemy import delete, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from patchsets_bench import (  # noqa: E402
    Git,
    Series,
    _patchset_of,
    build_series,
    fetch,
    start_web,
    stop_web,
)
from web_bench import wait_ready  # noqa: E402

from accounts.users import create_user  # noqa: E402
from archive.importer import import_messages  # noqa: E402
from core.db import dispose_engines, new_session  # noqa: E402
from core.settings import Settings, use_settings  # noqa: E402
from lists.manage import create_list  # noqa: E402
from mailyard.migrate import upgrade_database  # noqa: E402
from mailyard.wiring import install  # noqa: E402
from patchsets.models import PatchCommit, Patchset, PatchsetStatus  # noqa: E402
from patchsets.repositories import link_repository  # noqa: E402
from repos import storage  # noqa: E402
from repos.repositories import create_repository  # noqa: E402

USER = "bench"
PASSWORD = "bench-apply-password-1"
REPOSITORY = "project"
CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


def prepare(data_dir: Path, tmp: Path) -> tuple[Series, int, Path]:
    """The archive and the hosted repository (see the module); the 20-patch series, its
    patchset id and the hosted repository's path."""
    long_series, _solo, work = build_series(tmp)
    install()  # the domains' hooks, as every mailyard command has them
    dispose_engines()
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = use_settings(Settings(data_dir=data_dir, domain=common.DOMAIN))
    upgrade_database(settings)
    session = new_session(settings)
    try:
        mlist = create_list(session, common.LIST_NAME, common.OWNER)
        user = create_user(session, USER, common.OWNER, password=PASSWORD)
        repository = create_repository(session, settings, user, REPOSITORY)
        link_repository(session, mlist, repository, default=True)
        session.commit()
        bare = storage.path_of(settings, repository)
        # The base commit as main, pushed plainly: it is the repository's starting point.
        Git(work, tmp)("push", "-q", str(bare), f"{long_series.base}:refs/heads/main")
        import_messages(session, mlist, long_series.mails)
        session.commit()
        patchset_id = _patchset_of(session, long_series)
    finally:
        session.close()
    return long_series, patchset_id, bare


def reset(data_dir: Path, bare: Path, series: Series, patchset_id: int) -> None:
    """main back at the base, the patchset `proposed` and without commits: as it arrived."""
    Git(bare, bare.parent)("update-ref", "refs/heads/main", series.base)
    settings = use_settings(Settings(data_dir=data_dir, domain=common.DOMAIN))
    session = new_session(settings)
    try:
        session.execute(
            update(Patchset)
            .where(Patchset.id == patchset_id)
            .values(status=PatchsetStatus.proposed)
        )
        message_pks = [p.message_pk for p in session.get(Patchset, patchset_id).patches]
        session.execute(delete(PatchCommit).where(PatchCommit.message_pk.in_(message_pks)))
        session.commit()
    finally:
        session.close()


class Browser:
    """One signed-in browser: a keep-alive connection and the session cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, dict(response.getheaders()), data

    def csrf(self, path: str) -> str:
        status, _, page = self.request("GET", path)
        found = CSRF.search(page)
        if status != 200 or found is None:
            raise SystemExit(f"GET {path}: {status}, no form token")
        return found.group(1).decode()

    def sign_in(self) -> None:
        token = self.csrf("/login")
        status, headers, page = self.request(
            "POST", "/login", {"csrf_token": token, "login": USER, "password": PASSWORD}
        )
        if status != 303:
            raise SystemExit(f"signing in as ~{USER}: {status}\n{page[:2000].decode()}")

    def close(self) -> None:
        self.conn.close()


def web_apply(browser: Browser, patchset_id: int, action: str) -> tuple[float, str]:
    """One POST of the apply form (`apply` or `check`): seconds to the 303, and where it
    sends the browser (the attempt's report)."""
    path = f"/{common.LIST_NAME}/patches/{patchset_id}/"
    token = browser.csrf(path)
    form = {"csrf_token": token, "link": "yes", "action": action}
    start = time.perf_counter()
    status, headers, page = browser.request("POST", f"{path}apply", form)
    seconds = time.perf_counter() - start
    if status != 303:
        raise SystemExit(f"POST {path}apply ({action}): {status}\n{page[:3000].decode()}")
    return seconds, headers.get("Location", "")


def check_branch(bare: Path, series: Series) -> None:
    git = Git(bare, bare.parent)
    tree = git("rev-parse", "main^{tree}")
    count = git("rev-list", "--count", f"{series.base}..main")
    if tree != series.tree or count != str(series.patches):
        raise SystemExit(
            f"after the apply main has {count} commits on the base and tree {tree}; "
            f"expected {series.patches} and the author's {series.tree}"
        )


def git_am(bare: Path, series: Series, mbox: bytes, scratch: Path) -> float:
    """`git am -3` of the mbox in a fresh clone on the base commit: its seconds."""
    shutil.rmtree(scratch, ignore_errors=True)
    Git(bare.parent, bare.parent)("clone", "-q", str(bare), str(scratch))
    git = Git(scratch, bare.parent)
    git("checkout", "-q", "--detach", series.base)
    start = time.perf_counter()
    git("am", "-3", "-q", stdin=mbox)
    seconds = time.perf_counter() - start
    tree = git("rev-parse", "HEAD^{tree}")
    if tree != series.tree:
        raise SystemExit(f"git am -3 gave tree {tree}, the author had {series.tree}")
    return seconds


def print_table(result: dict) -> None:
    apply, check, am = result["web_apply_s"], result["web_check_s"], result["git_am_s"]
    rows = [
        ("apply from the web (POST to 303)", common.fmt_summary(apply, "%.3f") + " s"),
        ("dry run from the web (Check only)", common.fmt_summary(check, "%.3f") + " s"),
        ("`git am -3` of the same mbox, fresh clone", common.fmt_summary(am, "%.3f") + " s"),
        (
            "apply from the web / `git am -3`",
            f"{result['ratio']:.2f}× (per run {min(result['ratios']):.2f}–"
            f"{max(result['ratios']):.2f})",
        ),
    ]
    print(f"\n{result['patches']}-patch series, {result['runs']} runs:")
    common.print_rows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="applies, dry runs and git ams")
    args = ap.parse_args()
    code = common.code_fingerprint()
    if shutil.which("git") is None:
        raise SystemExit("git is not installed: it writes the series and is the peer")
    data_dir = common.WORK / "mailyard-apply"
    common.WORK.mkdir(parents=True, exist_ok=True)
    applies, checks, ams = [], [], []
    with tempfile.TemporaryDirectory(dir=common.WORK, prefix="apply-") as tmp_name:
        tmp = Path(tmp_name)
        series, patchset_id, bare = prepare(data_dir, tmp)
        print(f"{series.patches} patches archived as patchset {patchset_id}", flush=True)
        port = common.free_port()
        proc = start_web(data_dir, port)
        try:
            try:
                common.wait_for_port(port, proc, timeout=60)
                wait_ready(port, proc, f"/{common.LIST_NAME}/patches")
            except (RuntimeError, TimeoutError) as e:
                raise SystemExit(
                    f"{e}\n--- web log:\n{common.tail(data_dir / 'web.log')}"
                ) from None
            mbox = fetch(port, f"/{common.LIST_NAME}/patches/{patchset_id}/mbox")
            browser = Browser(port)
            browser.sign_in()
            web_apply(browser, patchset_id, "check")  # warm-up: the worker's first request
            for run in range(args.runs):
                reset(data_dir, bare, series, patchset_id)
                checked, _ = web_apply(browser, patchset_id, "check")
                applied, report = web_apply(browser, patchset_id, "apply")
                check_branch(bare, series)
                am = git_am(bare, series, mbox, tmp / "am")
                applies.append(applied)
                checks.append(checked)
                ams.append(am)
                print(
                    f"run {run}: web apply {applied:.3f} s ({report}), dry run "
                    f"{checked:.3f} s, git am -3 {am:.3f} s",
                    flush=True,
                )
            browser.close()
        finally:
            stop_web(proc)
            dispose_engines()
    apply_s, am_s = common.summary(applies), common.summary(ams)
    result = {
        "what": "apply a 20-patch series from the web (POST /<list>/patches/<id>/apply to "
        "its 303, mailyard web with 1 gunicorn worker, SQLite) and its dry run, against "
        "`git am -3` of the same mbox in a fresh clone, in the same runs",
        "patches": series.patches,
        "runs": args.runs,
        "web_apply_s": apply_s,
        "web_check_s": common.summary(checks),
        "git_am_s": am_s,
        "ratio": apply_s["median"] / am_s["median"],
        "ratios": [a / b for a, b in zip(applies, ams, strict=True)],
        "machine": common.machine(),
        "code": code,
    }
    print_table(result)
    common.save("mailyard_apply_20.json", result)


if __name__ == "__main__":
    main()
