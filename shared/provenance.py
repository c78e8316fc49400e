"""What a result was made with: model file and hash, versions, template, parameters, retrieval settings.

Computed once per worker (the model part) and stored with every result row.
"""

import platform
import socket
from importlib.metadata import version
from pathlib import Path

from ragq.shared.hashing import text_sha256

# llama.cpp's llama_ftype values, as GGUF files record them in general.file_type
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


def quantization(metadata: dict) -> str | None:
    file_type = metadata.get("general.file_type")
    return FILE_TYPES.get(int(file_type), f"file_type {file_type}") if file_type is not None else None


def model_provenance(path: Path, runner, sha256: str) -> dict:
    """The worker's part: the file, the library, and every load and sampling value that reached llama.cpp."""
    import llama_cpp

    model = runner.llm._model
    return {
        "model": {
            "name": runner.spec.name,
            "file": str(path),
            "size_bytes": path.stat().st_size,
            "sha256": sha256,
            "description": model.desc(),
            "quantization": quantization(runner.llm.metadata),
            "parameters": model.n_params(),
            "architecture": runner.llm.metadata.get("general.architecture"),
        },
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "sentence_transformers": version("sentence-transformers"),
        "spec": runner.spec.model_dump(mode="json"),
        "llama_cpp": {**runner.llama_settings, "n_threads": runner.placement.n_threads},
        "offload": runner.offload,
        # where and how it ran (not part of the spec digest): both thread counts, GPU layers, flash attention
        "placement": {
            **runner.placement.model_dump(),
            "n_threads_batch": runner.placement.batch_threads,
            "layers_offloaded": runner.offload["layers_offloaded"],
            "threads": runner.placement.threads_label(),
            "host": socket.gethostname(),
        },
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }


def prompt_provenance(layout, digest: str) -> dict:
    """The job's part: which prompt layout, from where, its text and hash, and the run's spec digest."""
    return {
        "prompt": {
            "kind": layout.kind,
            "source": layout.source,
            "template": layout.template,
            "sha256": text_sha256(layout.template),
        },
        "spec_digest": digest,
    }
