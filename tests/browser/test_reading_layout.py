"""The archive's pages in Chromium at a phone's width and a desktop's: a 20,000-character
subject, right-to-left names and subjects, and a deep nested thread never make the page
wider than the screen, and the nested view indents each reply under its parent. Each
page is saved as a screenshot (test-screenshots/reading-*.png) for people to look at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
LONG_SUBJECT = "lorem ipsum dolor sit amet " * 740 + "x" * 300  # 20,280 characters
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def entry(n: int, msgid: str, subject: str, sender: str, parents: tuple[str, ...] = ()) -> str:
    refs = ""
    if parents:
        refs = f"In-Reply-To: <{parents[-1]}>\nReferences: {' '.join(f'<{p}>' for p in parents)}\n"
    date = format_datetime(START + timedelta(minutes=n))
    return (
        f"From {sender.split('<')[-1].rstrip('>')} Mon Mar  2 10:00:00 2026\n"
        f"From: {sender}\nTo: dev@lists.example.org\nSubject: {subject}\nDate: {date}\n"
        f"Message-ID: <{msgid}>\n{refs}MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"Message {n}: {'y' * 200}\n\n"
    )


def archive_mbox() -> str:
    chain = ["root@x", "r1@x", "r2@x", "r3@x", "r4@x"]
    mails = [entry(0, "long@x", LONG_SUBJECT, "Ada Lovelace <ada@example.com>")]
    mails.append(entry(1, "rtl@x", "שלום עולם: תיקון באג ארוך מאוד", "שרה כהן <sara@example.com>"))
    mails.append(
        entry(2, "rtl-mixed@x", "Re: שלום (v2) fix [PATCH 1/2]", "محمد علي <m@example.com>")
    )
    for depth, msgid in enumerate(chain):
        subject = "nested topic" if depth == 0 else "Re: nested topic"
        mails.append(entry(3 + depth, msgid, subject, "Bo <bo@example.com>", tuple(chain[:depth])))
    return "".join(mails)


def fits_the_screen(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def tallest_listing_cell(page) -> float:
    """How many lines the tallest cell of a listing's other columns (list, author, date)
    takes: one letter a line is what a long subject used to do to them."""
    return page.evaluate(
        """Math.max(0, ...[...document.querySelectorAll('table.listing td:not(:first-child)')]
            .map(td => { const text = document.createRange(); text.selectNodeContents(td);
                         return text.getBoundingClientRect().height
                                / parseFloat(getComputedStyle(td).lineHeight); }))"""
    )


def test_long_subject_rtl_and_nested_pages_fit_phone_and_desktop(site, browser, shoot, tmp_path):
    site.cli("list", "create", "dev", "--owner", "owner@example.com")
    mbox = tmp_path / "reading.mbox"
    mbox.write_text(archive_mbox(), encoding="utf-8")
    site.cli("import-mbox", "dev", str(mbox))
    site.start()
    pages = {
        "list": "/dev/",
        "all": "/all/",
        "long-subject": "/dev/long@x/",
        "rtl": "/dev/rtl@x/",
        "rtl-thread": "/dev/rtl-mixed@x/",
        "nested": "/dev/root@x/t/",
        "flat": "/dev/root@x/T/",
    }
    for device, viewport in WIDTHS.items():
        context = browser.new_context(base_url=site.base_url, viewport=viewport)
        page = context.new_page()
        for name, path in pages.items():
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            shoot(page, f"reading-{name}-{device}")
            assert fits_the_screen(page), f"{path} is wider than a {device} screen"
            if name in ("list", "all"):
                assert tallest_listing_cell(page) < 3, f"{path}: a column squeezed"
        # The nested view: each reply starts further right than the one it answers.
        page.goto("/dev/root@x/t/")
        lefts = page.eval_on_selector_all(
            "article.message", "els => els.map(e => e.getBoundingClientRect().left)"
        )
        assert len(lefts) == 5
        assert all(a < b for a, b in zip(lefts, lefts[1:], strict=False)), lefts
        # The listing cuts the long subject; its page shows all of it.
        page.goto("/dev/")
        cut = page.locator("td.subject bdi[title]").first
        assert len(cut.inner_text()) <= 160
        page.goto("/dev/long@x/")
        assert len(page.locator("h1").inner_text()) == len(LONG_SUBJECT)
        context.close()
