"""The web page of `tunesql serve`, driven in a real browser against the real server.

Headless Chromium (Debian's ``/usr/bin/chromium``) runs the page's own JavaScript against the real app under
uvicorn with a scripted model (``conftest.make_server``), so what is checked is what a user sees: the streamed
SQL, the confidence, the rows (compared with the same SQL run directly on the served file), the drawn chart,
the explanation, edit-and-run, the refusal of a write, the history and the API-key flow. A browser that cannot
start is a failure, never a skip: the page would otherwise ship untested.

``TUNESQL_UPDATE_SCREENSHOT=1`` writes the README's screenshot to ``docs/serve-page.png``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.serve.conftest import EXPLANATION, MONTH_SQL, RunningServer

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported by the `browser` fixture as a failure with the install line
    sync_playwright = None

CHROMIUM = os.environ.get("TUNESQL_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
QUESTION = "How many customers are there in each region?"
REGION_SQL = ("SELECT r.name AS region, COUNT(*) AS customers FROM customers AS c JOIN regions AS r "
              "ON r.id = c.region_id GROUP BY r.name ORDER BY customers DESC, region")
PAGE_SCRIPT: dict[str, list[str]] = {
    # Three of four samples agree: the page must show 75 %.
    f"Question: {QUESTION}": [REGION_SQL, REGION_SQL, REGION_SQL, "SELECT 1"],
    "Question: How many orders per month": [MONTH_SQL],
    "Question: Delete": ["DELETE FROM customers"],
    "Write a corrected query": ["DELETE FROM customers"],  # the repair turn: the model insists
    "SQL: ": [EXPLANATION],
}
WAIT_MS = 30_000  # the first question builds the value index; later ones take well under a second


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail("Playwright is not installed: run `.venv/bin/pip install playwright` (the browser itself is "
                    "Debian's chromium: `apt-get install -y chromium`; do not run `playwright install`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `apt-get install -y chromium` (or set TUNESQL_CHROMIUM to a "
                    f"Chromium/Chrome binary)")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        except Exception as e:
            pytest.fail(f"Chromium at {CHROMIUM} did not start ({type(e).__name__}: {str(e)[:600]}); the page "
                        f"tests need a working headless Chromium")
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[RunningServer], Page]]:
    """``open_page(server)``: a fresh browser context (empty localStorage) on the server's page, which fails the
    test on a JavaScript error or on any request that leaves the server (the page must work offline)."""
    contexts: list[Any] = []
    problems: list[str] = []

    def start(srv: RunningServer) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        origin = urlsplit(srv.url).netloc
        page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
        page.on("request", lambda r: problems.append(f"request off the server: {r.url}")
                if not r.url.startswith("data:") and urlsplit(r.url).netloc != origin else None)
        page.goto(f"{srv.url}/")
        return page

    yield start
    for context in contexts:
        context.close()
    assert not problems, problems


def direct_rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` gives on the served file, read-only, without tunesql in between."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def ask(page: Page, db: str, question: str, *, press_enter: bool = False) -> None:
    page.select_option("#db", db)
    page.fill("#question", question)
    if press_enter:
        page.press("#question", "Enter")
    else:
        page.click("#ask")


def wait_done(page: Page) -> None:
    page.wait_for_selector("body[data-state='done']", state="attached", timeout=WAIT_MS)


def cell_texts(page: Page, column: int) -> list[str]:
    return page.locator(f"#result tbody tr td:nth-child({column})").all_inner_texts()


def test_ask_edit_run_refuse_and_history(make_server: Callable[..., RunningServer],
                                         open_page: Callable[[RunningServer], Page], tmp_path: Path) -> None:
    srv = make_server(script=PAGE_SCRIPT)
    before = srv.db_sha256()
    expected = direct_rows(srv.db_path, REGION_SQL)
    assert len(expected) > 2
    page = open_page(srv)

    # every control has an accessible name (a label, a button's text): found by role and name, as a screen reader does
    expect(page.get_by_role("combobox", name="Database", exact=True)).to_have_id("db")
    expect(page.get_by_role("textbox", name="Question", exact=True)).to_have_id("question")
    expect(page.get_by_role("textbox", name="SQL", exact=True)).to_have_id("sql")
    expect(page.get_by_role("button", name="Ask", exact=True)).to_have_id("ask")
    expect(page.get_by_role("button", name="Run", exact=True)).to_have_id("run")
    expect(page.locator("#result")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#error")).to_have_attribute("role", "alert")
    expect(page.locator("#db option[value='shop']")).to_have_text("shop (sqlite, 11 tables)")

    ask(page, "shop", QUESTION)
    wait_done(page)
    expect(page.locator("#status")).to_contain_text("Done in")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#sql")).to_have_value(REGION_SQL)
    expect(page.locator("#confidence")).to_contain_text("75%")
    expect(page.locator("#explanation")).to_have_text(EXPLANATION)

    # the table: headers with kinds, and exactly the rows sqlite3 gives for the same SQL on the same file
    expect(page.locator("#result thead .col-name")).to_have_text(["region", "customers"])
    expect(page.locator("#result thead .col-type")).to_have_text(["text", "integer"])
    expect(page.locator("#result tbody tr")).to_have_count(len(expected))
    expect(page.locator("#row-count")).to_have_text(f"{len(expected)} rows")
    assert cell_texts(page, 1) == [r[0] for r in expected]
    assert cell_texts(page, 2) == [str(r[1]) for r in expected]
    expect(page.locator("#truncated")).to_be_hidden()

    # a GROUP BY of a text column and a count: a bar chart with one bar per row, axes titled by the columns
    expect(page.locator("#chart")).to_be_visible()
    expect(page.locator("#chart svg[data-chart-type='bar']")).to_be_visible()
    expect(page.locator("#chart svg rect.bar")).to_have_count(len(expected))
    expect(page.locator("#chart svg .axis-title")).to_have_text(["customers", "region"])
    heights = [float(h) for h in page.locator("#chart svg rect.bar").evaluate_all(
        "bars => bars.map(b => b.getAttribute('height'))")]
    assert heights == sorted(heights, reverse=True) and heights[0] > heights[-1] > 0  # drawn to scale

    # edit the SQL and run it: the server's answer replaces the table
    page.fill("#sql", f"{REGION_SQL} LIMIT 2")
    page.click("#run")
    expect(page.locator("#row-count")).to_have_text("2 rows")
    expect(page.locator("#result tbody tr")).to_have_count(2)
    assert cell_texts(page, 1) == [r[0] for r in expected[:2]]
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#explanation-note")).to_be_visible()  # the explanation was for the model's SQL

    # a write typed into the editor is refused by the server's guard; the page says so, the file is untouched
    page.fill("#sql", "DELETE FROM customers")
    page.click("#run")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("DELETE writes data")
    expect(page.locator("#error")).to_contain_text("unsafe_sql")
    expect(page.locator("#result tbody tr")).to_have_count(0)
    assert srv.db_sha256() == before
    assert direct_rows(srv.db_path, "SELECT COUNT(*) FROM customers") == [(300,)]

    # the history lists the question; clicking it asks again
    expect(page.locator("#history li")).to_have_count(1)
    expect(page.locator("#history li")).to_contain_text(QUESTION)
    calls = len(srv.backend.calls)
    page.locator("#history li button").click()
    wait_done(page)
    assert len(srv.backend.calls) > calls
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#result tbody tr")).to_have_count(len(expected))
    expect(page.locator("#history li")).to_have_count(1)  # the same question is not listed twice

    # the history survives a reload (localStorage)
    page.reload()
    expect(page.locator("#history li")).to_have_count(1)

    ask(page, "shop", QUESTION)
    wait_done(page)
    page.locator("#question").blur()
    shot = REPO / "docs" / "serve-page.png" if os.environ.get("TUNESQL_UPDATE_SCREENSHOT") == "1" \
        else tmp_path / "serve-page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_line_chart_truncation_and_stream_error(make_server: Callable[..., RunningServer],
                                            open_page: Callable[[RunningServer], Page]) -> None:
    srv = make_server(script=PAGE_SCRIPT, max_rows=12)
    before = srv.db_sha256()
    months = direct_rows(srv.db_path, MONTH_SQL)
    assert len(months) > 12
    page = open_page(srv)

    # Enter in the question field asks; the server caps the rows at 12 and the page says the table is cut
    ask(page, "shop", "How many orders per month in the first half of 2024?", press_enter=True)
    wait_done(page)
    expect(page.locator("#result tbody tr")).to_have_count(12)
    assert cell_texts(page, 1) == [r[0] for r in months[:12]]
    expect(page.locator("#truncated")).to_be_visible()
    expect(page.locator("#truncated")).to_contain_text("only the first 12 rows")
    # months (dates) against a count: a line through one dot per row
    expect(page.locator("#chart svg[data-chart-type='line'] path.line")).to_have_count(1)
    expect(page.locator("#chart svg circle.dot")).to_have_count(12)

    # the model itself answers with a DELETE (and again when asked to repair it): the stream ends with an error
    # event; the page shows its code and message, no rows and no chart
    ask(page, "shop", "Delete every customer")
    page.wait_for_selector("body[data-state='error']", state="attached", timeout=WAIT_MS)
    expect(page.locator("#error")).to_be_visible()
    assert page.locator("#error-code").inner_text() in ("(sql_error)", "(unsafe_sql)")
    assert page.locator("#error-message").inner_text().strip()
    expect(page.locator("#result tbody tr")).to_have_count(0)
    expect(page.locator("#chart")).to_be_hidden()
    expect(page.locator("#explanation")).to_have_text("")
    assert srv.db_sha256() == before


def test_api_key_is_asked_for_then_used(make_server: Callable[..., RunningServer],
                                        open_page: Callable[[RunningServer], Page]) -> None:
    srv = make_server(keyed=True, script=PAGE_SCRIPT)
    assert srv.key
    page = open_page(srv)

    # the first call (the database list) is answered 401: the page shows the key field and the server's words
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("needs an API key")
    expect(page.locator("#db option[value='shop']")).to_have_count(0)

    page.fill("#api-key", "tsk-not-a-real-key")
    page.click("#save-key")
    expect(page.locator("#error")).to_contain_text("not known")
    expect(page.locator("#auth")).to_be_visible()

    page.fill("#api-key", srv.key)
    page.click("#save-key")
    expect(page.locator("#auth")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()
    ask(page, "shop", QUESTION, press_enter=True)
    wait_done(page)
    expect(page.locator("#result tbody tr")).to_have_count(len(direct_rows(srv.db_path, REGION_SQL)))
    assert page.evaluate("localStorage.getItem('tunesql.apiKey')") == f'"{srv.key}"'

    # a new tab of the same browser profile remembers the key: no prompt
    second = page.context.new_page()
    second.goto(f"{srv.url}/")
    expect(second.locator("#db option[value='shop']")).to_have_count(1)
    expect(second.locator("#auth")).to_be_hidden()
