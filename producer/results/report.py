"""One self-contained HTML report (plotly.js inlined, no network needed to open it): which model and ratio won."""

import html
from datetime import UTC, datetime

from markupsafe import Markup

from ragq.producer.results import page, pareto, sidebyside, summary_table, winner
from ragq.producer.results.flips import flips_table
from ragq.producer.results.summary import RunSummary
from ragq.shared.metrics.answer import METRICS
from ragq.shared.store.results import ResultRow


def run_label(s: RunSummary) -> str:
    where = f" {s.placement}" if s.placement else ""  # two runs of one spec placed differently are told apart
    return f"{s.model} r={s.ratio:g}{where} (run {s.run_id})"


def _short(question: str, n: int = 48) -> str:
    return question if len(question) <= n else question[: n - 1] + "…"


def plotly_text(text: str) -> str:
    """Text for a plotly label or hover: plotly draws those as its own small HTML (<br>, <b>, entities), so a
    question's `<b>` or `&amp;` is escaped to show as written."""
    return html.escape(text)


def _tiles(rows: list[ResultRow], labels: dict[int, str], metric: str):
    """(ids, parents, labels, sizes, colours, hover) for one metric: a parent tile per run, a child per answer."""

    def value(r: ResultRow) -> float:
        v = getattr(r, metric)
        return float(v) if v is not None else 0.0

    def mean(run_id: int) -> float:
        mine = [value(r) for r in rows if r.run_id == run_id]
        return sum(mine) / len(mine) if mine else 0.0

    tiles: list[tuple[str, str, str, float, float, str]]
    tiles = [(label, "", plotly_text(label), 0.0, mean(run_id), plotly_text(label)) for run_id, label in labels.items()]
    tiles += [
        (
            f"{labels[r.run_id]}/{r.repetition}/{r.question}",
            labels[r.run_id],
            plotly_text(_short(r.question, 32)),
            max(value(r), 0.001),
            value(r),
            f"{plotly_text(r.question)}<br>{metric} {value(r):.3f}, cosine {r.cosine:.3f}, {r.total_s:.2f} s",
        )
        for r in rows
    ]
    return [list(column) for column in zip(*tiles, strict=True)]


def treemap(rows: list[ResultRow], labels: dict[int, str]):
    """The study's figure: a tile per model run and question, size and colour = cosine; a menu switches the metric
    (in the page itself: the file stays self-contained)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, metric in enumerate(METRICS):
        ids, parents, names, values, colors, hover = _tiles(rows, labels, metric)
        fig.add_trace(
            go.Treemap(
                ids=ids,
                parents=parents,
                labels=names,
                values=values,
                branchvalues="remainder",
                marker={"colors": colors, "colorscale": "RdYlGn", "cmin": 0, "cmax": 1, "colorbar": {"title": metric}},
                hovertext=hover,
                hoverinfo="text",
                visible=i == 0,
                name=metric,
            )
        )
    fig.update_layout(
        title="Answer accuracy per model and question (tile size and colour: the metric chosen)",
        height=600,
        updatemenus=[_metric_menu(len(METRICS), 1)],
    )
    return fig


def _metric_menu(metrics: int, traces_per_metric: int) -> dict:
    """A dropdown that shows one metric's traces and hides the others'."""
    buttons = []
    for i, metric in enumerate(METRICS[:metrics]):
        visible = [j // traces_per_metric == i for j in range(metrics * traces_per_metric)]
        buttons.append({"label": metric, "method": "update", "args": [{"visible": visible}]})
    return {"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.12, "yanchor": "top", "direction": "down"}


def pareto_figure(summaries: list[RunSummary]):
    """Mean accuracy against p50 seconds and against peak RSS, every run with its interval, the front joined."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("against seconds per answer (p50)", "against worker peak RSS"))
    for i, metric in enumerate(METRICS):
        pts = pareto.points(summaries, metric)
        for col, cost in ((1, "seconds"), (2, "rss_mb")):
            err = {
                "type": "data",
                "array": [(p.ci_high if p.ci_high is not None else p.accuracy) - p.accuracy for p in pts],
                "arrayminus": [p.accuracy - (p.ci_low if p.ci_low is not None else p.accuracy) for p in pts],
            }
            fig.add_trace(
                go.Scatter(
                    x=[getattr(p, cost) for p in pts], y=[p.accuracy for p in pts], text=[plotly_text(p.label) for p in pts],
                    mode="markers", error_y=err, marker={"size": 10, "color": "#888"}, name=f"runs ({metric})",
                    visible=i == 0, showlegend=col == 1,
                ),
                row=1, col=col,
            )  # fmt: skip
            edge = pareto.front(pts, (cost,))
            fig.add_trace(
                go.Scatter(
                    x=[getattr(p, cost) for p in edge], y=[p.accuracy for p in edge], text=[plotly_text(p.label) for p in edge],
                    mode="lines+markers+text", textposition="top center", line={"color": "#d62728"},
                    marker={"size": 12}, name=f"front ({metric})", visible=i == 0, showlegend=col == 1,
                ),
                row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(title_text="p50 seconds per answer", row=1, col=1)
    fig.update_xaxes(title_text="peak RSS MB", row=1, col=2)
    fig.update_yaxes(title_text="mean accuracy (metric chosen), 95% interval", row=1, col=1)
    fig.update_layout(
        title="Which run to pick: up and left is better; the red line joins runs no other run beats",
        height=520,
        updatemenus=[_metric_menu(len(METRICS), 4)],
    )
    return fig


def budgets(summaries: list[RunSummary], rows: list[ResultRow]) -> dict[str, list[str]]:
    """Per metric, a sentence per budget on the Pareto front (metrics without one left out)."""
    said = {}
    for metric in METRICS:
        lines = pareto.budget_sentences(pareto.points(summaries, metric), metric, rows)
        if lines:
            said[metric] = [line[0].upper() + line[1:] for line in lines]
    return said


def time_per_question(rows: list[ResultRow], labels: dict[int, str]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for run_id, label in labels.items():
        mine = [r for r in rows if r.run_id == run_id]
        fig.add_bar(
            name=plotly_text(label), x=[plotly_text(_short(r.question)) for r in mine], y=[r.total_s for r in mine]
        )
    fig.update_layout(title="Response time per question (seconds)", barmode="group", yaxis_title="seconds", height=500)
    return fig


def accuracy_vs_ratio(summaries: list[RunSummary]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for model in sorted({s.model for s in summaries}):
        mine = sorted(
            ((s, s.mean_cosine) for s in summaries if s.model == model and s.mean_cosine is not None),
            key=lambda pair: pair[0].ratio,
        )
        fig.add_scatter(
            name=plotly_text(model),
            x=[s.ratio for s, _ in mine],
            y=[mean for _, mean in mine],
            mode="lines+markers",
            error_y={
                "type": "data",
                "array": [(s.cosine_ci_high or mean) - mean for s, mean in mine],
                "arrayminus": [mean - (s.cosine_ci_low or mean) for s, mean in mine],
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
            text=[plotly_text(run_label(s)) for s in done],
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


def headline(summaries: list[RunSummary], rows: list[ResultRow], set_notes: dict | None = None) -> dict | None:
    """Which run is best, only where a paired test over the shared questions supports it (winner.py); the fastest
    run by its measured seconds. None before any run finished."""
    done = [s for s in summaries if s.mean_total_s is not None]
    if not done:
        return None
    fastest = min(done, key=lambda s: s.mean_total_s or 0.0)
    slowest = max(done, key=lambda s: s.mean_total_s or 0.0)
    fast_s, slow_s = fastest.mean_total_s or 0.0, slowest.mean_total_s or 0.0
    return {
        "lines": winner.lines(summaries, rows, set_notes),
        "fastest": run_label(fastest),
        "fast_s": fast_s,
        "speedup": slow_s / fast_s if fast_s else 1.0,
    }


def _plotly_js() -> Markup:
    """plotly.js, inlined so the file opens without a network; it is code ragq ships, the one value marked safe."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():
        raise RuntimeError("this plotly.js holds '</script' and cannot be inlined")
    return Markup(js)


def render(summaries: list[RunSummary], rows: list[ResultRow], set_notes: dict | None = None) -> str:
    """set_notes: each generated question set's label (provisional, or checked with its tau)."""
    labels = {s.run_id: run_label(s) for s in summaries}
    figures = [treemap(rows, labels), time_per_question(rows, labels)]
    if len({s.ratio for s in summaries}) > 1:
        figures.append(accuracy_vs_ratio(summaries))
    figures.append(accuracy_vs_speed(summaries))
    figures.append(pareto_figure(summaries))
    answers = [
        {"question": r.question, "run": labels.get(r.run_id, str(r.run_id)), "answer": r.answer, "cosine": r.cosine,
         "total_s": r.total_s}
        for r in sorted(rows, key=lambda r: (r.question, r.run_id, r.repetition))
    ]  # fmt: skip
    return page.render(
        "report.html.j2",
        plotly_js=_plotly_js(),
        runs=len(summaries),
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline=headline(summaries, rows, set_notes),
        summary=summary_table.table(summaries),
        charts=[page.chart(fig, i) for i, fig in enumerate(figures)],
        measures=sidebyside.measure_groups(summaries, rows, set_notes),
        flips=flips_table(summaries, rows),
        ratios=sidebyside.ratio_section(summaries, rows),
        budgets=budgets(summaries, rows),
        answers=answers,
    )
