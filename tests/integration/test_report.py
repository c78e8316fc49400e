"""The HTML report as a person sees it: rendered by headless Chromium, treemap included."""

import shutil
import subprocess

import pytest

from ragq.producer.results.report import render
from ragq.producer.results.summary import summarize
from ragq.shared.store import db
from ragq.shared.store.results import result_rows
from ragq.shared.store.summaries import run_facts

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium); .ci/run installs it")
def test_report_renders_its_treemap_in_chromium(filled, tmp_path):
    engine, run_ids = filled
    with db.session(engine) as s:
        page = render(summarize(run_facts(s, run_ids)), result_rows(s, run_ids))
    assert "<script src=" not in page and "<link" not in page  # self-contained: plotly.js is inline
    report = tmp_path / "report.html"
    report.write_text(page)
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'class="treemaplayer"' in dom  # plotly drew a treemap layer...
    assert dom.count('class="slice cursor-pointer"') >= 2 + 6  # ...with a tile per run and per answer
    # run B: mean cosine 0.733 against 0.700 over 3 questions, which no paired test supports: no winner is named;
    # 3.67 s against 20 s per answer is measured, so the fastest is
    assert "no run is shown better than every other" in dom and "Most accurate" not in dom
    assert "The highest means are not a winner" in dom and "Fastest: <b>tiny r=0.7 (run 2)</b>" in dom
    # the Pareto view, with the metric menu (one self-contained page, no server) and a sentence per budget
    assert "Which run to pick" in dom and dom.count('class="updatemenu-button"') + dom.count("updatemenu-header") >= 2
    # run A (20 s per answer) is outside the 4 s budget: run B is alone there, so it is named
    assert "Within a budget" in dom and "s per answer and 500 MB: tiny r=0.7, cosine 0.73" in dom
    assert "Every measure, and the one that decides" in dom and "<h2>Flips</h2>" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--window-size=1400,2600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000


# untrusted text as it reaches a report: a question file's questions, a model's answers (which can quote a
# document's text back), each trying to run a script that marks the page
HOSTILE_QUESTIONS = [
    "<script>document.body.setAttribute('data-pwned','question')</script>What is the warranty?",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\"> How long & how far?",
    "</script><script>document.body.setAttribute('data-pwned','close')</script><b>bold</b>?",
]
HOSTILE_ANSWERS = [
    "</script><script>document.body.setAttribute('data-pwned','answer')</script>",
    "The guide says: <img src=x onerror=\"document.body.setAttribute('data-pwned','doc')\">",
    "<svg onload=\"document.body.setAttribute('data-pwned','svg')\"></svg> & more",
]


def _hostile_report(home, tmp_path) -> tuple[str, object]:
    from helpers import fill

    from ragq.shared.config import load_settings

    engine = db.engine_for(load_settings())
    run_ids = fill(engine, HOSTILE_QUESTIONS, HOSTILE_ANSWERS)
    with db.session(engine) as s:
        page = render(summarize(run_facts(s, run_ids)), result_rows(s, run_ids))
    report = tmp_path / "hostile.html"
    report.write_text(page)
    return page, report


def test_untrusted_text_is_escaped_in_the_page_source(home, tmp_path):
    page, _ = _hostile_report(home, tmp_path)
    for text in HOSTILE_QUESTIONS + HOSTILE_ANSWERS:  # every payload reached the page...
        assert text not in page  # ...but never as written: as entities in HTML, as JSON escapes in chart data
    assert page.count("<script") == page.count("</script>") == 1 + 5  # plotly.js and one per chart, no more
    assert "&lt;script&gt;document.body.setAttribute(&#39;data-pwned&#39;,&#39;question&#39;)" in page
    assert "\\u003c/script\\u003e\\u003cscript\\u003e" in page  # a question inside chart data cannot close it


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium); .ci/run installs it")
def test_no_script_from_a_question_an_answer_or_a_document_runs_in_chromium(home, tmp_path):
    _, report = _hostile_report(home, tmp_path)
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'class="treemaplayer"' in dom  # the page ran its own scripts: plotly drew the charts
    assert "data-pwned=" not in dom  # none of theirs ran: no payload set the attribute
    assert "<img" not in dom and "<svg onload" not in dom  # no element of theirs was made
    # and each shows as the text it was, in the answers' table (the DOM serialises text with &lt; &gt; &amp;)
    for text in HOSTILE_QUESTIONS + HOSTILE_ANSWERS:
        shown = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown in dom, text
