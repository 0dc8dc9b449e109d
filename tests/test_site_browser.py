"""A real browser walks the built site: every chapter, its tables and figures, links and search.

Headless Chromium (Debian's package) is driven by Playwright over the site served on a
loopback port, with the network off: every request for another host is refused and recorded,
so the site must render (math included) from what the build serves. A screenshot of each page
lands in test-artifacts/screenshots/.
"""

import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
from conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def offline_page(browser, site_url, refused: list, **options):
    """A page on which every request that would leave the machine is refused and recorded."""
    context = browser.new_context(**options)

    def guard(route):
        if route.request.url.startswith(site_url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", guard)
    return context.new_page()


MATH_TYPESET = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
    ? MathJax.startup.promise.then(() => document.querySelectorAll("main mjx-container").length)
    : -1"""


@pytest.fixture(scope="module")
def walk(browser, site_url):
    """Open the landing page, follow the primary navigation to every page, and record what each shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    refused = []
    page = offline_page(browser, site_url, refused, viewport={"width": 1280, "height": 900})
    console_errors = []
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.goto(site_url + "index.html")
    page.wait_for_load_state("networkidle")
    start = page.url
    nav = page.eval_on_selector_all(
        ".bd-sidebar-primary a.reference.internal", "links => links.map(a => a.href)"
    )
    pages = [start] + [urldefrag(url)[0] for url in nav]
    pages = list(dict.fromkeys(pages))
    visited = {}
    for url in pages:
        response = page.goto(url)
        page.wait_for_load_state("networkidle")
        name = Path(urlparse(url).path).stem
        has_math = page.locator("main .math").count()
        typeset = page.evaluate(MATH_TYPESET) if has_math else 0
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        visited[name] = {
            "math": has_math,
            "typeset": typeset,
            "status": response.status if response else None,
            "text": page.inner_text("main"),
            "tables": page.locator("main .cell_output table").count(),
            "figures": page.locator("main .cell_output img").count(),
            "tracebacks": page.locator("main .output.traceback, main .output.stderr").count(),
            "links": page.eval_on_selector_all("main a[href]", "links => links.map(a => a.href)"),
        }
    page.context.close()
    return {"pages": visited, "site": site_url, "console_errors": console_errors, "refused": refused}


def test_navigation_reaches_every_chapter(walk):
    names = set(walk["pages"])
    for expected in (
        "intro",
        "setup",
        "01-labeling-functions",
        "02-transformation-functions",
        "03-slicing-functions",
        "instructors",
        "glossary",
        "bibliography",
    ):
        assert expected in names, f"the navigation does not reach {expected}"
    for name, seen in walk["pages"].items():
        assert seen["status"] == 200, f"{name} answered {seen['status']}"


def test_no_page_shows_a_traceback_or_error(walk):
    for name, seen in walk["pages"].items():
        assert seen["tracebacks"] == 0, f"{name} shows an error output"
        assert "Traceback (most recent call last)" not in seen["text"], f"{name} shows a traceback"
    assert not walk["console_errors"], walk["console_errors"][:3]


def test_each_lab_shows_executed_tables_and_figures(walk):
    labs = [name for name in walk["pages"] if re.match(r"0[123]-", name)]
    assert len(labs) == 3
    for name in labs:
        assert walk["pages"][name]["tables"] >= 1, f"{name} shows no executed table"
        assert walk["pages"][name]["figures"] >= 1, f"{name} shows no figure"


def test_no_broken_internal_link(walk):
    site = walk["site"]
    targets = {link for seen in walk["pages"].values() for link in seen["links"] if link.startswith(site)}
    assert targets
    bodies = {}
    broken = []
    for link in sorted(targets):
        address, fragment = urldefrag(link)
        if address not in bodies:
            try:
                with urllib.request.urlopen(address) as response:
                    bodies[address] = response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as error:
                bodies[address] = None
                broken.append(f"{link} ({error.code})")
                continue
        body = bodies[address]
        if body is not None and fragment and address.endswith(".html") and f'id="{fragment}"' not in body:
            broken.append(f"{link} (no anchor #{fragment})")
    assert not broken, broken[:10]


def test_no_request_leaves_the_machine(walk):
    assert not walk["refused"], f"the site asked for other hosts: {sorted(set(walk['refused']))[:5]}"


def test_math_is_rendered_without_internet(walk):
    glossary = walk["pages"]["glossary"]
    assert glossary["math"] >= 1, "the glossary has no math to render"
    assert glossary["typeset"] == glossary["math"], (
        f"MathJax typeset {glossary['typeset']} of the glossary's {glossary['math']} formulas"
    )
    for name, seen in walk["pages"].items():
        assert "\\(" not in seen["text"], f"{name} shows raw TeX"


def test_search_finds_labeling_function(browser, site_url):
    refused = []
    page = offline_page(browser, site_url, refused)
    page.goto(urljoin(site_url, "search.html?q=labeling+function"))
    page.wait_for_selector("ul.search li", timeout=60_000)
    results = page.locator("ul.search li")
    found = results.count()
    titles = " ".join(results.all_inner_texts())
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)
    page.context.close()
    assert not refused, refused[:5]
    assert found >= 1
    assert "labeling function" in titles.lower()
