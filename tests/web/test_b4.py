"""The real `b4` (when installed) fetches a series from a live Mailyard web server.

b4 0.12 asks for /all/<quote_plus(msgid)>/t.mbox.gz directly when its midmask points at
/all/, and otherwise sends HEAD /<list>/<msgid> and follows the 301's Location; this
runs both paths with a Message-ID that holds '/' and '+'.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core.settings import use_settings
from mailyard.wiring import BLUEPRINTS
from web.app import create_app

pytestmark = pytest.mark.skipif(shutil.which("b4") is None, reason="b4 not installed")

COVER = "cover/v1+series@example.com"


def patch_mail(
    msgid: str,
    subject: str,
    body: str,
    parents: tuple[str, ...] = (),
    sender: str = "Ada Lovelace <ada@example.com>",
) -> bytes:
    refs = ""
    if parents:
        refs = f"In-Reply-To: <{parents[-1]}>\nReferences: {' '.join(f'<{p}>' for p in parents)}\n"
    return (
        f"From: {sender}\nTo: dev@lists.example.org\n"
        f"Subject: {subject}\nDate: Mon, 02 Mar 2026 10:0{len(parents)}:00 +0000\n"
        f"Message-ID: <{msgid}>\n{refs}MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def diff(name: str) -> str:
    return (
        f"Add {name}.\n\nSigned-off-by: Ada Lovelace <ada@example.com>\n---\n"
        f" {name} | 1 +\n 1 file changed, 1 insertion(+)\n create mode 100644 {name}\n\n"
        f"diff --git a/{name} b/{name}\nnew file mode 100644\nindex 0000000..257cc56\n"
        f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1 @@\n+{name}\n-- \n2.39.5\n"
    )


@pytest.fixture
def live_server(app, settings):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # The app builds its absolute URLs (b4 follows its 301s) from the base URL: the
    # server's own address, as a deployment's MAILYARD_BASE_URL is.
    server.app = create_app(use_settings(replace(settings, base_url=url)), BLUEPRINTS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=5)


def run_b4(tmp_path: Path, midmask: str, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "gitconfig"
    config.write_text(
        f"[b4]\n\tmidmask = {midmask}\n\tsearchmask = {midmask.rsplit('/', 2)[0]}"
        f"/all/?x=m&t=1&q=%s\n[user]\n\tname = T\n\temail = t@example.com\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["b4", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def seed_series(seed):
    dev = seed.make_list("dev")
    seed.post(
        dev,
        COVER,
        raw=patch_mail(
            COVER,
            "[PATCH 0/2] add two files",
            "Two files.\n\nAda Lovelace (2):\n  add foo\n  add bar\n"
            "\n foo | 1 +\n bar | 1 +\n 2 files changed\n",
        ),
    )
    seed.post(
        dev,
        "p1@example.com",
        raw=patch_mail("p1@example.com", "[PATCH 1/2] add foo", diff("foo"), (COVER,)),
    )
    seed.post(
        dev,
        "p2@example.com",
        raw=patch_mail("p2@example.com", "[PATCH 2/2] add bar", diff("bar"), (COVER,)),
    )
    seed.post(
        dev,
        "ack@example.com",
        raw=patch_mail(
            "ack@example.com",
            "Re: [PATCH 1/2] add foo",
            "> Add foo.\n\nReviewed-by: Bo <bo@example.com>\n",
            (COVER, "p1@example.com"),
            sender="Bo <bo@example.com>",
        ),
    )


@pytest.mark.parametrize("mask", ["/all/%s", "/dev/%s"])
def test_b4_am_fetches_the_series_with_trailers(seed, live_server, tmp_path, mask):
    seed_series(seed)
    (tmp_path / "out").mkdir()
    result = run_b4(tmp_path, live_server + mask, "am", "-o", str(tmp_path / "out"), COVER)
    assert result.returncode == 0, result.stdout + result.stderr
    mbx = next((tmp_path / "out").glob("*.mbx")).read_text()
    assert "Subject: [PATCH 1/2] add foo" in mbx and "Subject: [PATCH 2/2] add bar" in mbx
    assert "Reviewed-by: Bo <bo@example.com>" in mbx


def test_b4_reports_an_unknown_message_id(seed, live_server, tmp_path):
    seed_series(seed)
    result = run_b4(tmp_path, live_server + "/dev/%s", "mbox", "-o", str(tmp_path), "no@x")
    assert result.returncode != 0
    assert "not known" in result.stdout + result.stderr
