"""Tiny real GGUF models, written at test time: llama architecture, 2 layers, 64 wide, random weights, and a real
32k SentencePiece vocabulary (llama.cpp's ggml-vocab-llama-spm.gguf, which scripts/setup.sh keeps in the wheel
cache). llama.cpp loads and runs them in milliseconds; their tokenizer and chat templates are the real ones, so
prompts render and tokenize as they would for the study's models. Their answers are noise."""

import os
from pathlib import Path

import numpy as np
import pytest

VOCAB_NAME = "ggml-vocab-llama-spm.gguf"

# mistralai/Mistral-7B-Instruct-v0.1's chat template (Hugging Face tokenizer_config.json): no system role
MISTRAL_V01_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
# TinyLlama/TinyLlama-1.1B-Chat-v1.0's chat template (zephyr layout)
TINYLLAMA_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)


def vocab_path() -> Path:
    cache = Path(os.environ.get("RAGQ_WHEEL_CACHE", Path.home() / ".cache" / "ragq" / "wheels"))
    path = cache / VOCAB_NAME
    if not path.exists():
        pytest.skip(f"{path} is missing: `bash scripts/setup.sh --dev` extracts it from llama-cpp-python's sources")
    return path


def write_tiny_llama(path: Path, chat_template: str | None, n_layers: int = 2, width: int = 64, seed: int = 0) -> Path:
    import gguf

    vocab = gguf.GGUFReader(vocab_path())
    fields = vocab.fields
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]) for i in fields["tokenizer.ggml.tokens"].data]
    scores = [float(fields["tokenizer.ggml.scores"].parts[i][0]) for i in fields["tokenizer.ggml.scores"].data]
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    n_vocab, n_ff, heads = len(tokens), width * 2, 4

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(path.stem)
    w.add_block_count(n_layers)
    w.add_context_length(2048)
    w.add_embedding_length(width)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(width // heads)
    w.add_file_type(0)  # all F32
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if chat_template is not None:
        w.add_chat_template(chat_template)

    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    tensor("token_embd.weight", n_vocab, width)
    w.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    tensor("output.weight", n_vocab, width)
    for i in range(n_layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(width, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"blk.{i}.{name}.weight", width, width)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        tensor(f"blk.{i}.ffn_gate.weight", n_ff, width)
        tensor(f"blk.{i}.ffn_up.weight", n_ff, width)
        tensor(f"blk.{i}.ffn_down.weight", width, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
