"""One self-contained HTML report (plotly.js inlined, no network needed to open it): which model and ratio won."""

import html
from datetime import UTC, datetime

from ragq.shared.output.summary import RunSummary
from ragq.shared.store.results import ResultRow


def run_label(s: RunSummary) -> str:
    return f"{s.model} r={s.ratio:g} (run {s.run_id})"


def _short(question: str, n: int = 48) -> str:
    return question if len(question) <= n else question[: n - 1] + "…"


def treemap(rows: list[ResultRow], labels: dict[int, str]):
    """The study's figure: a tile per model run and question, size and colour = cosine."""
    import plotly.graph_objects as go

    def mean_cosine(run_id: int) -> float:
        mine = [r.cosine for r in rows if r.run_id == run_id]
        return sum(mine) / len(mine) if mine else 0.0

    # (id, parent, label, size, colour, hover): one parent tile per run, one child per answer
    tiles = [(label, "", label, 0, mean_cosine(run_id), label) for run_id, label in labels.items()]
    tiles += [
        (
            f"{labels[r.run_id]}/{r.repetition}/{r.question}",
            labels[r.run_id],
            _short(r.question, 32),
            max(r.cosine, 0.001),
            r.cosine,
            f"{html.escape(r.question)}<br>cosine {r.cosine:.3f}, {r.total_s:.2f} s",
        )
        for r in rows
    ]
    ids, parents, names, values, colors, hover = (list(column) for column in zip(*tiles, strict=True))
    fig = go.Figure(
        go.Treemap(
            ids=ids,
            parents=parents,
            labels=names,
            values=values,
            branchvalues="remainder",
            marker={
                "colors": colors,
                "colorscale": "RdYlGn",
                "cmin": 0,
                "cmax": 1,
                "colorbar": {"title": "cosine"},
            },
            hovertext=hover,
            hoverinfo="text",
        )
    )
    fig.update_layout(title="Answer accuracy per model and question (tile size and colour: cosine)", height=600)
    return fig


def time_per_question(rows: list[ResultRow], labels: dict[int, str]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for run_id, label in labels.items():
        mine = [r for r in rows if r.run_id == run_id]
        fig.add_bar(name=label, x=[_short(r.question) for r in mine], y=[r.total_s for r in mine])
    fig.update_layout(title="Response time per question (seconds)", barmode="group", yaxis_title="seconds", height=500)
    return fig


def accuracy_vs_ratio(summaries: list[RunSummary]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for model in sorted({s.model for s in summaries}):
        mine = sorted((s for s in summaries if s.model == model and s.mean_cosine is not None), key=lambda s: s.ratio)
        errors = [(s.cosine_ci_high or s.mean_cosine) - s.mean_cosine for s in mine]
        fig.add_scatter(
            name=model,
            x=[s.ratio for s in mine],
            y=[s.mean_cosine for s in mine],
            mode="lines+markers",
            error_y={
                "type": "data",
                "array": errors,
                "arrayminus": [s.mean_cosine - (s.cosine_ci_low or s.mean_cosine) for s in mine],
            },
        )
    fig.update_layout(
        title="Mean cosine against ensemble ratio (BM25 weight), 95% bootstrap interval",
        xaxis_title="ratio",
        yaxis_title="mean cosine",
        height=450,
    )
    return fig


def accuracy_vs_speed(summaries: list[RunSummary]):
    import plotly.graph_objects as go

    done = [s for s in summaries if s.mean_cosine is not None]
    fig = go.Figure(
        go.Scatter(
            x=[s.mean_total_s for s in done],
            y=[s.mean_cosine for s in done],
            text=[run_label(s) for s in done],
            mode="markers+text",
            textposition="top center",
            marker={"size": 14},
        )
    )
    fig.update_layout(
        title="Accuracy against speed per run (up and left is better)",
        xaxis_title="mean seconds",
        yaxis_title="mean cosine",
        height=450,
    )
    return fig


def headline(summaries: list[RunSummary]) -> str:
    done = [s for s in summaries if s.mean_cosine is not None]
    if not done:
        return "No finished results yet."
    best = max(done, key=lambda s: s.mean_cosine)
    fastest = min(done, key=lambda s: s.mean_total_s)
    slowest = max(done, key=lambda s: s.mean_total_s)
    return (
        f"Most accurate: <b>{html.escape(run_label(best))}</b>, mean cosine {best.mean_cosine:.3f}. "
        f"Fastest: <b>{html.escape(run_label(fastest))}</b>, {fastest.mean_total_s:.2f} s per answer "
        f"({slowest.mean_total_s / fastest.mean_total_s:.1f}x faster than the slowest run)."
    )


def summary_table(summaries: list[RunSummary]) -> str:
    head = [
        "run",
        "model",
        "ratio",
        "done",
        "failed",
        "mean cosine",
        "95% CI",
        "evidence hit",
        "mean s",
        "p50 s",
        "p95 s",
        "TTFT s",
        "pp tok/s",
        "tg tok/s",
        "peak RSS MB",
    ]
    f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(c))}</td>"
            for c in [
                s.run_id,
                s.model,
                f"{s.ratio:g}",
                f"{s.done}/{s.jobs}",
                s.failed,
                f(s.mean_cosine),
                f"{f(s.cosine_ci_low)} to {f(s.cosine_ci_high)}",
                f(s.evidence_hit_rate, 2),
                f(s.mean_total_s, 2),
                f(s.p50_total_s, 2),
                f(s.p95_total_s, 2),
                f(s.mean_ttft_s, 2),
                f(s.prompt_tokens_per_s, 0),
                f(s.gen_tokens_per_s, 1),
                f(s.peak_rss_mb, 0),
            ]
        )
        + "</tr>"
        for s in summaries
    )
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{body}</table>"


def render(summaries: list[RunSummary], rows: list[ResultRow]) -> str:
    from plotly.offline import get_plotlyjs

    labels = {s.run_id: run_label(s) for s in summaries}
    figures = [treemap(rows, labels), time_per_question(rows, labels)]
    if len({s.ratio for s in summaries}) > 1:
        figures.append(accuracy_vs_ratio(summaries))
    figures.append(accuracy_vs_speed(summaries))
    charts = "\n".join(fig.to_html(full_html=False, include_plotlyjs=False) for fig in figures)
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ragq report</title>
<script>{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{background:#f3f3f3}}</style></head>
<body><h1>ragq report</h1><p>{len(summaries)} runs, {len(rows)} answers, made {made}.</p>
<p class="headline">{headline(summaries)}</p>
<h2>Summary</h2>{summary_table(summaries)}
{charts}
</body></html>"""
