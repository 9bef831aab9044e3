"""A maintainer's first repository in a real browser: create it on the web, push to it
with plain `git push` over HTTP and an API token, and browse it (summary, tree, a file,
the log, a commit), on a desktop and on a phone-sized screen, with screenshots."""

from __future__ import annotations

import subprocess

import pytest

from tests.repos.helpers import git, git_env, work_tree

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}


def test_create_push_and_browse_a_repository(site, browser, shoot, tmp_path):
    site.cli("user", "create", "ada", "ada@example.org", "--password-stdin", input=PASSWORD)
    token = site.cli("user", "token", "ada", "--name", "git").stdout.strip()
    site.start()
    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username or email address").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Create the repository; its empty page says how to push.
    page.goto("/repos/new")
    shoot(page, "repo-new")
    page.get_by_label("Name").fill("widget")
    page.get_by_label("Description").fill("The widget's code")
    page.get_by_role("button", name="create the repository").click()
    assert page.url.endswith("/~ada/widget")
    assert "git push" in page.inner_text("main")
    shoot(page, "repo-empty")

    # Push a history with a README and a source file, as a maintainer would.
    tree = work_tree(tmp_path / "widget", commits=2)
    (tree / "README").write_text("Widget: it turns.\n<script>alert(1)</script>\n")
    (tree / "src").mkdir()
    (tree / "src" / "turn.py").write_text("def turn(x):\n    return -x\n" * 40)
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "Add the turning code\n\nSigned-off-by: Ada <ada@example.org>")
    url = site.base_url.replace("http://", f"http://ada:{token}@") + "/~ada/widget"
    pushed = subprocess.run(
        ["git", "push", url, "main"], cwd=tree, env=git_env(), capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    head = git(tree, "rev-parse", "HEAD").stdout.strip()

    page.goto("/~ada/widget")
    main = page.inner_text("main")
    assert "Widget: it turns." in main and "Add the turning code" in main
    assert page.locator("script").count() == 0  # the README is text, never markup
    shoot(page, "repo-summary")
    page.get_by_role("link", name="tree", exact=True).first.click()
    page.get_by_role("link", name="src/", exact=True).first.click()
    page.get_by_role("link", name="turn.py").first.click()
    page.wait_for_load_state()  # content() is empty while the next page commits
    assert "return -x" in page.inner_text("main")
    shoot(page, "repo-blob")
    page.goto("/~ada/widget/log/main")
    log = page.inner_text("main")
    assert "Add the turning code" in log and "commit 1" in log and "commit 0" in log
    page.get_by_role("link", name=head[:12]).first.click()
    assert page.url.endswith(f"/commit/{head}")
    assert "Signed-off-by" in page.inner_text("main")
    shoot(page, "repo-commit")

    # The same pages on a phone: nothing scrolls sideways.
    phone = browser.new_context(
        base_url=site.base_url, viewport=PHONE, storage_state=context.storage_state()
    ).new_page()
    for path, name in (
        ("/~ada/widget", "phone-repo-summary"),
        ("/~ada/widget/tree/main", "phone-repo-tree"),
        ("/~ada/widget/tree/main/item/src/turn.py", "phone-repo-blob"),
        ("/~ada/widget/log/main", "phone-repo-log"),
        (f"/~ada/widget/commit/{head}", "phone-repo-commit"),
        ("/~ada/widget/blame/main/item/src/turn.py", "phone-repo-blame"),
        ("/~ada/widget/settings", "phone-repo-settings"),
    ):
        assert phone.goto(path).status == 200, path
        shoot(phone, name)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
