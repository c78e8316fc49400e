"""The Pareto view: the front on hand-made points, budgets rounded as a person states them, ties named."""

from ragq.producer.results.pareto import Point, budget_sentences, front, round_up


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


def test_one_sentence_per_budget_with_ties():
    pts = [p(1, 0.40, 1.0, 500), p(2, 0.41, 1.2, 480), p(3, 0.60, 4.0, 2000, ci=0.01)]
    lines = budget_sentences(pts, "token_f1")
    assert lines[0] == "under 1 s per answer and 500 MB: m1, token_f1 0.40 [0.38, 0.42]"
    assert lines[1].startswith("under 1.2 s per answer and 480 MB: m2, token_f1 0.41 [0.39, 0.43]")
    assert lines[-1].startswith("under 4 s per answer and 2.0 GB: m3, token_f1 0.60")
    # in the 1.2 s budget m1 is in it only if it fits the memory too: 500 MB > 480 MB, so no tie is named there
    assert "not a clear winner" not in lines[1]


def test_a_winner_inside_the_noise_is_called_a_tie():
    pts = [p(1, 0.40, 1.0, 500, ci=0.05), p(2, 0.42, 1.5, 600, ci=0.05)]
    cheap, dear = budget_sentences(pts, "cosine")
    assert cheap == "under 1 s per answer and 500 MB: m1, cosine 0.40 [0.35, 0.45]"
    assert dear == (
        "under 1.5 s per answer and 600 MB: m2, cosine 0.42 [0.37, 0.47] (within the intervals of m1: not a clear winner)"
    )
