"""What a reader sees on the built site: figures explained, generated prose true, pages that fit.

Three kinds of checks, all on the site that `make book` builds:

- every figure of a page has a caption and an alt text that describes it (not a file name or
  a hash);
- every sentence a chapter generates from its numbers (the ``claim-…`` spans) says what the
  table beside it shows, at the precision the table shows;
- in headless Chromium at the width of a 400 px phone, no page scrolls sideways: only code
  blocks and tables may be wider than the screen, and those scroll inside their own box
  instead of being cut off; at 1280 px no table of the labs needs to scroll at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import REPO

from labeling_labs.claims import change_phrase, comparative, listing, ranges_overlap, tally, tally_phrase
from labeling_labs.slicing import compare_on_slices, where_the_gain_comes_from

pytestmark = pytest.mark.slow

LABS = ["book/01-labeling-functions", "book/02-transformation-functions", "book/03-slicing-functions"]
PAGES = ["book/intro", "book/setup", *LABS, "book/instructors", "book/glossary", "book/bibliography"]


def page(built_site: Path, name: str) -> BeautifulSoup:
    return BeautifulSoup((built_site / f"{name}.html").read_text(encoding="utf-8"), "html.parser")


def article(soup: BeautifulSoup):
    found = soup.select_one("article.bd-article")
    assert found is not None, "no article in the page"
    return found


# --------------------------------------------------------------------------- figures

LOOKS_LIKE_A_FILE = re.compile(r"[0-9a-f]{16,}|\.(svg|png|jpe?g|gif)$|^\.\./|_images/", re.IGNORECASE)


def test_every_figure_has_a_caption_and_an_alt_text_that_says_what_it_shows(built_site):
    figures_per_lab = {}
    for name in PAGES:
        images = article(page(built_site, name)).find_all("img")
        for img in images:
            where = f"{name}: image {img.get('src')}"
            alt = (img.get("alt") or "").strip()
            assert alt, f"{where} has no alt text"
            assert not LOOKS_LIKE_A_FILE.search(alt), f"{where} has a file name for alt text: {alt!r}"
            assert len(alt.split()) >= 12, f"{where}: the alt text is too short to describe a chart: {alt!r}"
            figure = img.find_parent("figure")
            assert figure is not None, f"{where} is not in a figure"
            caption = figure.find("figcaption")
            assert caption is not None and len(caption.get_text(" ", strip=True).split()) >= 5, (
                f"{where} has no caption"
            )
        figures_per_lab[name] = len(images)
    for lab in LABS:
        assert figures_per_lab[lab] >= 1, f"{lab} shows no figure"
    architecture = page(built_site, LABS[2]).find(id="fig-slice-aware-model")
    assert architecture is not None and architecture.find("img"), "lab 3 draws its slice-aware architecture"


# --------------------------------------------------------------------------- generated sentences


def claim(soup: BeautifulSoup, name: str) -> str:
    span = soup.find(id=f"claim-{name}")
    assert span is not None, f"the page has no generated sentence claim-{name}"
    return span.get_text(" ", strip=True)


def number(text: str) -> float:
    """ "86.4%" -> 0.864, "0.952" -> 0.952 (as the table shows it)."""
    text = text.strip()
    return round(float(text[:-1]) / 100, 6) if text.endswith("%") else float(text)


def table_rows(table) -> tuple[list[str], dict[str, list[str]]]:
    """The column names and {row label: cells} of a pandas or MyST table in the page."""
    header_rows = table.select("thead tr")
    columns = [cell.get_text(" ", strip=True) for cell in header_rows[0].find_all(["th", "td"])][1:]
    rows = {}
    for tr in table.select("tbody tr"):
        cells = [cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])]
        rows[cells[0]] = cells[1:]
    return columns, rows


def output_table(soup: BeautifulSoup, tag: str):
    """The table a code cell tagged `tag` displays."""
    cell = soup.select_one(f"div.cell.tag_{tag}")
    assert cell is not None, f"no cell tagged {tag}"
    table = cell.select_one(".cell_output table")
    assert table is not None, f"the cell tagged {tag} shows no table"
    return table_rows(table)


def column(table, name: str) -> dict[str, float]:
    columns, rows = table
    k = columns.index(name)
    return {label: number(cells[k]) for label, cells in rows.items()}


def test_lab_1_sentences_agree_with_their_tables(built_site):
    soup = page(built_site, LABS[0])
    combinations = table_rows(soup.find("table", id="tbl-combinations"))
    ten = column(combinations, "Ten LFs (this chapter)")
    nine = column(combinations, "Nine LFs, without has_person_nlp (the exercise)")
    assert claim(soup, "lm-vs-mv-ten") == comparative(ten["Label model"], ten["Majority vote"], 3)
    assert claim(soup, "lm-vs-mv-nine") == comparative(nine["Label model"], nine["Majority vote"], 3)

    weights = output_table(soup, "table-lf-weights")
    dev_accuracy = column(weights, "accuracy on dev")
    assert claim(soup, "weak-lfs") == listing([lf for lf, acc in dev_accuracy.items() if acc < 0.6])
    alone = column(weights, "P(SPAM), its vote alone")
    labels = {lf: cells[weights[0].index("label")] for lf, cells in weights[1].items()}
    for lf in ("has_person_nlp", "textblob_subjectivity", "keyword_http"):
        sentence = claim(soup, "effect-" + lf.replace("_", "-"))
        moved = re.search(r"to (\d\.\d{3})", sentence)
        assert moved and float(moved.group(1)) == alone[lf], (lf, sentence)
        toward = "SPAM" if alone[lf] > 0.5 else "HAM"
        assert f"towards {toward}" in sentence, (lf, sentence)
        assert ("against its own" in sentence) == (toward != labels[lf]), (lf, sentence)
        assert ("barely" in sentence) == (abs(alone[lf] - 0.5) <= 0.05), (lf, sentence)

    priors = column(output_table(soup, "table-class-balance"), "test accuracy")
    uniform, from_dev = priors.values()
    assert claim(soup, "balanced-vs-uniform") == change_phrase(from_dev, uniform)

    weak_vs_gold = column(table_rows(soup.find("table", id="tbl-weak-vs-gold")), "Test accuracy")
    gold, weak = weak_vs_gold.values()
    assert claim(soup, "weak-vs-gold") == change_phrase(weak, gold, than="trained on hand labels")
    assert claim(soup, "classifier-vs-label-model") == change_phrase(
        weak, ten["Label model"], than="the label model"
    )


def test_lab_2_sentences_agree_with_their_tables(built_site):
    soup = page(built_site, LABS[1])
    accuracy = column(output_table(soup, "table-augmentation-accuracy"), "test accuracy")
    verdict = claim(soup, "verdict")
    assert verdict == comparative(
        accuracy["augmented"],
        accuracy["original"],
        3,
        better="a higher accuracy than",
        worse="a lower accuracy than",
        same="exactly the same accuracy as",
    )
    paragraph = soup.find(id="claim-conclusion").find_parent("p").get_text(" ", strip=True)
    p_value = float(re.search(r"p = ([\d.]+)", paragraph).group(1))
    conclusion = claim(soup, "conclusion")
    if p_value >= 0.05:
        assert "does not measurably change" in conclusion
    else:
        assert ("helps" if accuracy["augmented"] > accuracy["original"] else "hurts") in conclusion

    curve = output_table(soup, "table-learning-curve")
    augmented, original = column(curve, "augmented, mean"), column(curve, "original, mean")
    assert claim(soup, "curve-tally") == tally_phrase(tally(augmented, original, 3), "sizes")
    sampled = list(augmented)[:-1]  # the last size is the whole training set, trained once
    overlapping = [
        size
        for size in sampled
        if ranges_overlap(
            [column(curve, "augmented, min")[size], column(curve, "augmented, max")[size]],
            [column(curve, "original, min")[size], column(curve, "original, max")[size]],
            3,
        )
    ]
    sentence = claim(soup, "curve-overlap")
    assert sentence.startswith("at every one") == (len(overlapping) == len(sampled)), sentence


def test_lab_3_sentences_agree_with_their_tables(built_site):
    soup = page(built_site, LABS[2])
    comparison = output_table(soup, "table-slice-comparison")
    aware = column(comparison, "slice-aware MLP")
    plain = column(comparison, "plain MLP")
    base = column(comparison, "logistic regression")
    assert claim(soup, "aware-vs-base") == compare_on_slices(aware, base, "baseline", decimals=3)
    assert claim(soup, "aware-vs-plain") == compare_on_slices(aware, plain, "plain MLP", decimals=3)
    assert claim(soup, "gain-source") == where_the_gain_comes_from(aware, plain, base, decimals=3)
    # The defect this test was written for: a tie on every slice is not a tie overall.
    if aware["overall"] != plain["overall"]:
        assert "Overall it scores the same" not in claim(soup, "aware-vs-plain")

    by_seed = output_table(soup, "table-by-seed")
    aware_overall, plain_overall = (
        column(by_seed, "slice-aware, overall"),
        column(by_seed, "plain MLP, overall"),
    )
    assert claim(soup, "overall-tally") == tally_phrase(tally(aware_overall, plain_overall, 3), "runs")
    short = tally(
        column(by_seed, "slice-aware, short_comment"), column(by_seed, "plain MLP, short_comment"), 3
    )
    assert claim(soup, "short-tally") == tally_phrase(short, "runs")
    if len(short["tied"]) == len(aware_overall):
        assert claim(soup, "short-tally").startswith("tied in all"), "runs that all tie are called tied"
    overlap = ranges_overlap(aware_overall.values(), plain_overall.values(), 3)
    assert claim(soup, "ranges-overlap") == ("overlap" if overlap else "do not overlap")


def test_bibliography_labels_are_the_citations_of_the_text(built_site):
    labels = {
        entry.select_one("span.label").get_text(strip=True).strip("[]")
        for entry in page(built_site, "book/bibliography").select("div.citation")
    }
    assert labels and all(re.fullmatch(r"[^\W\d][\w\s.&-]*, \d{4}", label) for label in labels), labels
    cited = set()
    for name in PAGES:
        for citation in article(page(built_site, name)).select("span.bibtex-citation a.reference"):
            cited.add(re.sub(r"\s+", " ", citation.get_text()).strip())
    assert cited, "the chapters cite the bibliography"
    assert cited <= labels, f"cited as {sorted(cited - labels)}, listed as {sorted(labels)}"


def test_every_lab_states_its_learning_objectives_before_its_introduction(built_site):
    for lab in LABS:
        body = article(page(built_site, lab))
        section = body.find("section")
        first = section.find(["p", "div"], recursive=False)
        assert first is not None and "admonition" in (first.get("class") or []), (
            f"{lab}: the first thing after the title is not the learning objectives"
        )
        assert "Learning objectives" in first.get_text(), lab


# --------------------------------------------------------------------------- the browser: 400 px

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


# What overflows the screen, and what clips content, in the page's article. An element wider
# than the screen is fine inside a box that scrolls (overflow-x auto or scroll) and itself fits.
LAYOUT_PROBLEMS = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const describe = el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '')
    + ' "' + (el.textContent || '').trim().slice(0, 50).replace(/\\s+/g, ' ') + '"';
  const problems = [];
  const article = document.querySelector('article.bd-article');
  for (const el of article.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    if (['hidden', 'clip'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      problems.push('cuts off its content: ' + describe(el));
    }
    if (box.right <= width + 1 && box.left >= -1) continue;
    let parent = el.parentElement, contained = false;
    while (parent && parent !== article.parentElement) {
      if (scrolls(parent)) {
        const frame = parent.getBoundingClientRect();
        contained = frame.right <= width + 1 && frame.left >= -1;
        break;
      }
      parent = parent.parentElement;
    }
    if (!contained) problems.push('wider than the screen: ' + describe(el));
  }
  return {
    pageWidth: document.documentElement.scrollWidth,
    screenWidth: width,
    problems: [...new Set(problems)].slice(0, 10),
  };
}"""

TABLES_THAT_DO_NOT_FIT = """() => [...document.querySelectorAll('article.bd-article table')]
  .filter(table => table.getBoundingClientRect().width > 0)
  .map(table => {
    let box = table.parentElement;
    while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
    return {width: table.scrollWidth, room: box ? box.clientWidth : document.documentElement.clientWidth,
            text: table.innerText.slice(0, 60).replace(/\\s+/g, ' ')};
  })
  .filter(t => t.width > t.room + 1)"""


def open_page(browser_page, url: str) -> None:
    """Load a page with its style sheets, images and fonts: the layout a reader gets."""
    browser_page.goto(url, wait_until="load", timeout=120_000)
    browser_page.evaluate("document.fonts.ready.then(() => true)")


@pytest.mark.browser
def test_no_page_scrolls_sideways_on_a_400_px_phone(browser, site_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser_page = browser.new_page(viewport={"width": 400, "height": 860})
    failures = []
    for name in PAGES:
        open_page(browser_page, site_url + f"{name}.html")
        seen = browser_page.evaluate(LAYOUT_PROBLEMS)
        browser_page.screenshot(path=str(SCREENSHOTS / f"{Path(name).name}-400px.png"), full_page=True)
        if seen["pageWidth"] > seen["screenWidth"]:
            failures.append(
                f"{name} scrolls sideways: {seen['pageWidth']} px wide on a {seen['screenWidth']} px screen"
            )
        failures += [f"{name}: {problem}" for problem in seen["problems"]]
    browser_page.close()
    assert not failures, "\n".join(failures)


@pytest.mark.browser
def test_the_labs_tables_fit_a_desktop_page_without_scrolling(browser, site_url):
    browser_page = browser.new_page(viewport={"width": 1280, "height": 900})
    wide = {}
    for name in LABS:
        open_page(browser_page, site_url + f"{name}.html")
        if found := browser_page.evaluate(TABLES_THAT_DO_NOT_FIT):
            wide[name] = found
    browser_page.close()
    assert not wide, f"tables that hide columns at 1280 px until scrolled: {wide}"
