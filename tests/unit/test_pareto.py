"""The Pareto view: the front on hand-made points, budgets rounded as a person states them, ties named."""

from dataclasses import replace

from ragq.producer.results.pareto import Point, budget_sentences, front, round_up
from ragq.shared.store.results import ResultRow


def p(run_id, accuracy, seconds, rss, ci=0.02):
    return Point(run_id, f"m{run_id}", accuracy, accuracy - ci, accuracy + ci, seconds, rss)


def test_front_keeps_only_runs_no_other_beats():
    pts = [p(1, 0.40, 1.0, 500), p(2, 0.50, 2.0, 900), p(3, 0.45, 3.0, 600), p(4, 0.60, 4.0, 2000)]
    # 3 is beaten on time by 2 (more accurate and faster) but not on memory (600 < 900)
    assert [x.run_id for x in front(pts, ("seconds",))] == [1, 2, 4]
    assert [x.run_id for x in front(pts, ("rss_mb",))] == [1, 3, 2, 4]
    assert [x.run_id for x in front(pts, ("seconds", "rss_mb"))] == [1, 2, 3, 4]


def test_round_up():
    assert round_up(1.37) == 1.4 and round_up(0.262) == 0.27 and round_up(913) == 920 and round_up(2.0) == 2.0


def answers(run_id, values, metric="cosine"):
    """One run's answers, a value of the metric per question."""
    row = ResultRow(run_id, 0, "m", 0.3, 0, "Q", "a", 0.5, 1.0, 0.1, 10, 0.1, 5, 0.1, 0, 1.0, None)
    return [replace(row, job_id=i, question=f"Q{i}", **{metric: v}) for i, v in enumerate(values)]


CLEAR = [0.1, 0.15, 0.2, 0.1, 0.12, 0.18, 0.14, 0.11, 0.16, 0.13]  # every question 0.25 above its pair below


def test_one_sentence_per_budget_when_the_data_tells_runs_apart():
    pts = [p(1, 0.40, 1.0, 500), p(2, 0.41, 1.2, 480), p(3, 0.60, 4.0, 2000, ci=0.01)]
    rows = answers(1, CLEAR, "token_f1") + answers(2, [v + 0.01 for v in CLEAR], "token_f1")
    rows += answers(3, [v + 0.25 for v in CLEAR], "token_f1")
    lines = budget_sentences(pts, "token_f1", rows)
    assert lines[0] == "under 1 s per answer and 500 MB: m1, token_f1 0.40 [0.38, 0.42]"
    # in the 1.2 s budget m1 is in it only if it fits the memory too: 500 MB > 480 MB, so no tie is named there
    assert lines[1] == "under 1.2 s per answer and 480 MB: m2, token_f1 0.41 [0.39, 0.43]"
    assert lines[-1] == "under 4 s per answer and 2.0 GB: m3, token_f1 0.60 [0.59, 0.61]"  # 10 of 10 better


def test_a_winner_the_paired_test_cannot_tell_apart_is_not_called_one():
    pts = [p(1, 0.40, 1.0, 500, ci=0.05), p(2, 0.42, 1.5, 600, ci=0.05)]
    noise = [0.1, -0.08, 0.05, -0.02, 0.06, -0.04, 0.03]
    rows = answers(1, [0.4] * 7) + answers(2, [0.4 + d for d in noise])
    cheap, dear = budget_sentences(pts, "cosine", rows)
    assert cheap == "under 1 s per answer and 500 MB: m1, cosine 0.40 [0.35, 0.45]"
    assert dear.startswith(
        "under 1.5 s per answer and 600 MB: no detectable difference in cosine between m2 (0.42 [0.37, 0.47]) "
        "and m1 with 7 questions; about "
    )
    assert dear.endswith("would detect 0.05: no winner yet")
