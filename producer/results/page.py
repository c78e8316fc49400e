"""HTML pages through one autoescaping Jinja2 environment: every value a page shows is text unless a template marks
it otherwise, so a question, an answer or a document name that carries `<script>` stays text by construction.

Chart data goes in with Jinja2's `tojson`, which writes `<`, `>`, `&` and `'` as JSON escapes: no value can close
the script element that holds it."""

import json
from typing import NamedTuple

from jinja2 import Environment, PackageLoader, StrictUndefined


class Table(NamedTuple):
    head: list[str]
    rows: list[list[str]]


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("ragq.producer.results", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def chart(figure, number: int) -> dict:
    """A plotly figure as plain JSON data for `Plotly.newPlot` in the page (plotly's encoder handles numpy)."""
    data = json.loads(figure.to_json())
    return {"id": f"chart-{number}", "data": data.get("data", []), "layout": data.get("layout", {})}
