"""A hybrid index on disk: chunks (JSON lines), BM25 postings (npz, no pickle), FAISS vectors, manifest.

Written to a temporary folder and swapped in whole, so a failed ingest leaves the old index as it was.
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ragq.shared.corpus import quantize
from ragq.shared.corpus.bm25 import BM25, tokenize
from ragq.shared.corpus.chunking import CHUNK_OVERLAP, CHUNK_SIZE, Chunk
from ragq.shared.corpus.documents import expand_paths
from ragq.shared.corpus.embedding import EMBEDDER_NAME, index_variant
from ragq.shared.corpus.reading import Progress, read_chunks
from ragq.shared.errors import CorpusIndexError, DocumentError, UsageError
from ragq.shared.hashing import sha256_file
from ragq.shared.registry import unknown_name_message

FORMAT = 1
CHUNKER = {"splitter": "RecursiveCharacterTextSplitter", "chunk_size": CHUNK_SIZE, "chunk_overlap": CHUNK_OVERLAP}


@dataclass
class HybridIndex:
    name: str
    manifest: dict
    chunks: list[Chunk]
    bm25: BM25
    dense: object  # faiss.IndexFlatL2

    def __post_init__(self):
        import faiss

        # One query at a time gains nothing from FAISS's OpenMP threads, and their spin-waiting slows the
        # query embedding that alternates with them: measured on 2 cores, p50 retrieval 17.5 -> 9.5 ms at
        # 10k chunks and 30.4 -> 17.3 ms at 100k (bench/retrieval.py).
        faiss.omp_set_num_threads(1)

    @classmethod
    def load(cls, folder: Path) -> "HybridIndex":
        import faiss

        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            with (folder / "chunks.jsonl").open() as fh:
                chunks = [Chunk(**json.loads(line)) for line in fh]
            bm25 = BM25.load(folder)
            dense = faiss.read_index(str(folder / "dense.faiss"))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise CorpusIndexError(f"index at {folder} is damaged ({exc}): ingest it again.") from exc
        if dense.ntotal != len(chunks) or len(bm25.doc_len) != len(chunks):
            raise CorpusIndexError(f"index at {folder} is inconsistent: ingest it again.")
        return cls(manifest["name"], manifest, chunks, bm25, dense)


def index_folder(indexes_dir: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"'{name}' is not a usable index name: use letters, digits, '-' and '_'.")
    return indexes_dir / name


def list_manifests(indexes_dir: Path) -> list[dict]:
    if not indexes_dir.exists():
        return []
    found = (p / "manifest.json" for p in sorted(indexes_dir.iterdir()))
    return [json.loads(m.read_text()) for m in found if m.exists()]


def load_index(indexes_dir: Path, name: str) -> HybridIndex:
    folder = index_folder(indexes_dir, name)
    if not (folder / "manifest.json").exists():
        known = [m["name"] for m in list_manifests(indexes_dir)]
        raise CorpusIndexError(
            unknown_name_message("index", name, known, "Create it with `ragq ingest PATH --index NAME`.")
        )
    return HybridIndex.load(folder)


def describe_sources(paths: list[Path]) -> list[dict]:
    return [{"name": p.name, "path": str(p.resolve()), "sha256": sha256_file(p)} for p in expand_paths(paths)]


def content_id(manifest: dict) -> str:
    """What makes two indexes the same content: format, chunker, PDF reader, embedder, its variant and int8 recipe,
    and the documents' sha256s. Two hosts that ingest the same files the same way get the same id, wherever the files
    lay. The reader, the variant and the recipe count only where they are not what every index had before they could
    be chosen (pypdf, fp32, the "dynamic" recipe), so that an index built then keeps its id."""
    key = {
        "format": manifest.get("format"),
        "chunker": manifest.get("chunker"),
        "embedder": manifest.get("embedder"),
        "sources": sorted((s["name"], s["sha256"]) for s in manifest.get("sources", [])),
    }
    if manifest.get("reader", "pypdf") != "pypdf":
        key["reader"] = manifest["reader"]
    if index_variant(manifest) != "fp32":
        key["embedding"] = index_variant(manifest)
    plan = manifest.get("quantization")
    if plan and quantize.recipe(plan) != "dynamic":
        key["quantization"] = {k: plan[k] for k in ("recipe", "alpha", "block")}  # what makes the model, not the CPU
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def is_unchanged(folder: Path, sources: list[dict], reader: str, variant: str, quantization: dict | None) -> bool:
    """The index holds these documents, read and embedded the way this ingest would."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return False
    wanted = {
        "format": FORMAT,
        "chunker": CHUNKER,
        "embedder": EMBEDDER_NAME,
        "sources": sources,
        "reader": reader,
        "embedding": variant,
        "quantization": quantization,
    }
    return content_id(json.loads(manifest_path.read_text())) == content_id(wanted)


# chunks handed to the embedder at a time while the reader goes on (it sorts them by length and cuts them into
# ONNX Runtime calls of ONNX_BATCH texts, shared/corpus/embedding.py)
BATCH = 64


def build(
    name: str, sources: list[dict], embedder, progress: Progress, reader: str = "pdfium", batch: int = BATCH
) -> tuple[dict, list[Chunk], np.ndarray]:
    """Read, split and embed every source, the embedder working on one batch while the next pages are read."""
    names = [s["name"] for s in sources]
    if len(set(names)) != len(names):
        raise DocumentError(f"two documents share a file name ({names}): rename one; chunks cite sources by name.")
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    for chunk in read_chunks(sources, reader, progress):
        chunks.append(chunk)
        if len(chunks) % batch == 0:
            parts.append(embedder.encode([c.text for c in chunks[-batch:]]))
            progress("chunks embedded", len(chunks), None)
    done = len(parts) * batch
    if done < len(chunks):
        parts.append(embedder.encode([c.text for c in chunks[done:]]))
    progress("chunks embedded", len(chunks), len(chunks))
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    return manifest_for(name, sources, embedder, reader, len(chunks)), chunks, vectors


def manifest_for(name: str, sources: list[dict], embedder, reader: str, chunk_count: int) -> dict:
    return {
        "name": name,
        "format": FORMAT,
        "sources": sources,
        "chunker": CHUNKER,
        "reader": reader,
        "embedder": EMBEDDER_NAME,
        "embedding": embedder.variant,
        "quantization": embedder.quantization,
        "dim": embedder.dim,
        "chunk_count": chunk_count,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(folder: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray) -> None:
    """Write everything into a sibling temporary folder, then swap it in."""
    import faiss

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with (tmp / "chunks.jsonl").open("w") as fh:
            for chunk in chunks:
                fh.write(json.dumps(asdict(chunk)) + "\n")
        BM25.build([tokenize(c.text) for c in chunks]).save(tmp)
        dense = faiss.IndexFlatL2(vectors.shape[1])
        dense.add(vectors)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        old = folder.with_name(f".{folder.name}-old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
