"""`evalkit view` in a real browser: Debian's headless Chromium driven by Playwright (the system
browser, no download). Skipped, with the reason, where Chromium or Playwright is not installed.

EVALKIT_VIEW_SCREENSHOTS=DIR also writes the main pages at 1280x800 into DIR (docs/view/ holds them).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.store import Store
from evalkit.view import annotators, items, queries
from evalkit.view.app import build_app
from evalkit.view.bundle import write_bundle
from evalkit.view.server import Server
from evalkit.vote import votes as vote_store
from view_project import build

CHROMIUM = Path(os.environ.get("EVALKIT_CHROMIUM", "/usr/bin/chromium"))
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright; "
                               "it drives the system Chromium, no browser download)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) or set EVALKIT_CHROMIUM",
                allow_module_level=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    config, run_id = build(root)
    return root, config, run_id


@pytest.fixture(scope="module")
def served(project):
    root, _, _ = project
    path = root / "store.db"
    with Server(build_app(Store(path), path, votes=True, seed=7), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Tab:
    """A page at 1280x800 that records every console error and uncaught exception."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, url: str) -> Tab:
        reply = self.page.goto(url)
        assert reply is not None and reply.ok, f"{url}: {reply.status if reply else 'no reply'}"
        return self

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def rows(self) -> list[str]:
        return self.page.locator("#rows td.id").all_inner_texts()

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("EVALKIT_VIEW_SCREENSHOTS")
        if folder:
            from PIL import Image

            path = Path(folder) / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(path))
            Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)  # docs stay small


def test_the_main_pages_render_with_no_console_errors(browser, served, project):
    _, _, run_id = project
    tab = Tab(browser)
    for name, path in (("runs", ""), ("run", f"run?run={run_id}"),
                       ("samples", f"samples?run={run_id}&task=toygsm&model=base"),
                       ("diff", f"diff?run={run_id}&task=toygsm&a=sft&b=base&split=disagree"),
                       ("code", f"samples?run={run_id}&task=toycode&model=base"), ("judge", "judge"),
                       ("verdict", "verdict?judge=toyjudge&set=chat&prompt=p01&a=base&b=sft"),
                       ("answers", "answers?set=chat&a=sft&b=base")):
        tab.open(served.url + path)
        assert tab.page.locator("h1").count() == 1
        tab.screenshot(name)
    images = tab.page.goto(served.url + f"run?run={run_id}") and tab.page.locator(".board img")
    assert images.count() >= 1 and all(tab.page.evaluate("(img) => img.naturalWidth > 0", img.element_handle())
                                       for img in images.all())
    assert tab.errors == []


def test_a_filter_changes_the_rows_and_the_recomputed_interval(browser, served, project):
    root, _, run_id = project
    tab = Tab(browser).open(served.url + f"diff?run={run_id}&task=toygsm&a=sft&b=base")
    before_rows, before = tab.rows(), tab.text("#interval")
    tab.page.select_option("#field", "level")
    tab.page.fill("#value", "hard")
    tab.page.click("#apply")
    tab.page.wait_for_load_state()
    after_rows, after = tab.rows(), tab.text("#interval")
    assert after_rows != before_rows and after != before
    site_pairs = queries.Pairs(Store(root / "store.db"), run_id, "toygsm", "sft", "base", "exact_match")
    hard = queries.Filter(field="level", value="hard")
    assert int(tab.text("#count")) == site_pairs.count(hard) and all(int(i[1:]) % 3 == 0 for i in after_rows)
    from evalkit.view.site import Site

    site = Site(Store(root / "store.db"))
    assert after == items.comparison(site, site.run(run_id), site_pairs, hard)["text"]

    tab.open(served.url + f"samples?run={run_id}&task=toygsm&model=base")
    estimate = tab.text("#estimate")
    tab.page.check("#wrong")
    tab.page.click("#apply")
    tab.page.wait_for_load_state()
    assert tab.text("#estimate") != estimate and tab.text("#estimate").startswith("0.0000")
    assert tab.errors == []


def test_a_diff_shows_both_texts_with_the_differences_marked(browser, served, project):
    _, _, run_id = project
    tab = Tab(browser).open(served.url + f"diff?run={run_id}&task=toygsm&a=sft&b=base&split=disagree")
    first = tab.page.locator("#rows tr.item").first
    assert "sft works it out" in first.locator("pre.side-1").inner_text()
    assert "base works it out" in first.locator("pre.side-2").inner_text() or \
        first.locator("pre.side-2").inner_text() == "(empty)"
    assert first.locator("mark.del").count() >= 1
    assert tab.errors == []


def test_a_vote_cast_in_the_browser_lands_in_the_store_and_in_the_ratings(browser, served, project, capsys):
    root, config, _ = project
    path = root / "store.db"
    token = annotators.add(path, "dana")
    tab = Tab(browser)
    tab.page.clock.set_fixed_time(1_000_000)  # the page's clock stands still until the test moves it
    tab.open(served.url + f"vote?token={token}")
    tab.screenshot("vote")
    prompt_id = tab.page.input_value("input[name=prompt_id]")
    tab.page.keyboard.press("a")  # pressed as the pair appears: ignored, as in the terminal app
    tab.page.wait_for_timeout(300)
    assert vote_store.votes(Store(path), annotator="dana") == []
    tab.page.clock.set_fixed_time(1_000_001)  # a second later
    with tab.page.expect_navigation():
        tab.page.keyboard.press("a")
    assert "saved #" in tab.text("#said") and "A is better" in tab.text("#said")
    (vote,) = vote_store.votes(Store(path), annotator="dana")
    assert vote.prompt_id == prompt_id and vote.winner == "left"
    assert main(["--config", str(config), "ratings", "--rounds", "20"]) == 0
    assert "dana" in capsys.readouterr().out
    assert tab.errors == []


def test_the_bundle_opens_from_files_with_no_console_errors(browser, project, tmp_path):
    root, _, run_id = project
    write_bundle(Store(root / "store.db"), tmp_path / "bundle")
    tab = Tab(browser).open((tmp_path / "bundle" / "index.html").as_uri())
    tab.page.click(f"text=run {run_id}")
    tab.page.click("#items a >> nth=0")
    assert len(tab.rows()) == queries.PAGE_SIZE
    tab.page.click("#next")
    assert re.match(r"q0\d\d", tab.rows()[0])
    assert tab.page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")  # the CSS loaded
    assert tab.errors == []
    shutil.rmtree(tmp_path / "bundle")
