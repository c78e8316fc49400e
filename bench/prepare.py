"""Homes the sections share: the demo guide ingested with its questions, and a one-question set."""

from pathlib import Path

from bench.common import Context, demo_files, ragq


def demo_home(ctx: Context) -> Path:
    """A home with the demo guide ingested as `demo`, its 8 questions as `demo` and the first one as `one`."""
    if "demo_home" in ctx.shared:
        return ctx.shared["demo_home"]
    home = ctx.home("demo")
    pdf_file, qa_file = demo_files()
    with pdf_file as pdf, qa_file as qa:
        ragq(home, "ingest", str(pdf), "--index", "demo")
        ragq(home, "questions", "import", str(qa), "--set", "demo")
        first = "\n".join(qa.read_text().strip().splitlines()[:2])
    one = home / "one.txt"
    one.write_text(first + "\n")
    ragq(home, "questions", "import", str(one), "--set", "one")
    ctx.shared["demo_home"] = home
    return home
