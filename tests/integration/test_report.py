"""The HTML report as a person sees it: rendered by headless Chromium, treemap included."""

import shutil
import subprocess

import pytest

from ragq.producer.results.report import render
from ragq.producer.results.summary import summarize
from ragq.shared.store import db
from ragq.shared.store.results import result_rows

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
        page = render(summarize(s, run_ids), result_rows(s, run_ids))
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
