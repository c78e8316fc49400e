"""`ragq ingest` and `ragq index`: documents into persisted hybrid indexes."""

from dataclasses import asdict

import click

from ragq.producer.cli.output import json_option, print_json, print_table, progress_bar
from ragq.producer.ingest.pipeline import ingest as run_ingest
from ragq.shared.corpus import index as idx
from ragq.shared.corpus.embedding import index_variant


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--index", "name", required=True, help="Name of the index to create or update.")
@json_option
@click.pass_obj
def ingest(settings, paths: tuple[str, ...], name: str, as_json: bool) -> None:
    """Load documents (PDF, text, Markdown, HTML; folders and http(s) URLs too) into the hybrid index NAME.

    Chunks of 500 characters (overlap 100) keep their page; BM25 and FAISS index the same chunks.
    Re-ingesting unchanged files does nothing.
    """
    with progress_bar(enabled=not as_json) as progress:
        report = run_ingest(settings, name, list(paths), progress)
    if as_json:
        print_json({"unchanged": report.unchanged, **report.manifest})
        return
    verb = "unchanged" if report.unchanged else "built"
    click.echo(
        f"index '{name}' {verb}: {report.manifest['chunk_count']} chunks from "
        f"{len(report.manifest['sources'])} document(s)"
    )
    for source in report.manifest["sources"]:
        if source.get("empty_pages"):
            click.echo(f"  {source['name']}: {source['empty_pages']} of {source['pages']} pages have no text")


@click.group()
def index() -> None:
    """Inspect indexes: list, show, export."""


@index.command("list")
@json_option
@click.pass_obj
def list_(settings, as_json: bool) -> None:
    """List the indexes under $RAGQ_HOME/indexes."""
    manifests = idx.list_manifests(settings.indexes_dir)
    if as_json:
        print_json(manifests)
        return
    rows = [
        [m["name"], m["chunk_count"], ", ".join(s["name"] for s in m["sources"]), m["created_at"]] for m in manifests
    ]
    print_table("Indexes", ["name", "chunks", "documents", "built"], rows)


@index.command()
@click.argument("name")
@json_option
@click.pass_obj
def show(settings, name: str, as_json: bool) -> None:
    """Show an index's manifest: sources and their sha256, chunker, embedder, chunk count."""
    manifest = idx.load_index(settings.indexes_dir, name).manifest
    if as_json:
        print_json(manifest)
        return
    click.echo(
        f"index {name}: {manifest['chunk_count']} chunks, embedder {manifest['embedder']} "
        f"({index_variant(manifest)}), PDF reader {manifest.get('reader', 'pypdf')}, chunker {manifest['chunker']}"
    )
    print_table(
        "Sources",
        ["name", "pages", "chunks", "sha256"],
        [[s["name"], s.get("pages"), s.get("chunks"), s["sha256"][:16]] for s in manifest["sources"]],
    )


@index.command()
@click.argument("name")
@json_option
@click.pass_obj
def export(settings, name: str, as_json: bool) -> None:
    """Print every chunk of an index: id, source, page (0-based), text."""
    chunks = idx.load_index(settings.indexes_dir, name).chunks
    if as_json:
        print_json([asdict(c) for c in chunks])
        return
    print_table(
        f"Chunks of {name}",
        ["id", "source", "page", "text"],
        [[c.id, c.source, c.page, c.text[:80].replace("\n", " ")] for c in chunks],
    )


COMMANDS = [ingest, index]
