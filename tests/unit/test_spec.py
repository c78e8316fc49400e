"""The typed catalog and settings: strict keys with did-you-mean, `extends`, the spec digest, sampling that
reaches llama.cpp, and settings precedence with origins."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragq.shared.config import describe, load_settings
from ragq.shared.errors import UsageError
from ragq.shared.models import catalog, identity
from ragq.shared.models.placement import Placement
from ragq.shared.models.spec import ModelSpec, Params
from ragq.shared.rag import llm as llm_module


def write_entry(settings, name: str, text: str) -> Path:
    folder = catalog.user_catalog_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_unknown_param_did_you_mean(settings):
    path = write_entry(settings, "mine", 'name = "mine"\nextends = "smollm2-135m"\n[params]\ntemprature = 0.5\n')
    with pytest.raises(UsageError) as err:
        catalog.load_catalog(settings)
    assert str(err.value).startswith(f"{path}: under [params]: 'temprature' is not a known key.")
    assert "Did you mean 'temperature'?" in str(err.value)


def test_unknown_top_level_and_source_keys(settings):
    write_entry(settings, "a", 'name = "a"\nextend = "smollm2-135m"\n')
    with pytest.raises(UsageError, match="Did you mean 'extends'"):
        catalog.load_catalog(settings)
    write_entry(settings, "a", 'name = "a"\n[source]\nkind = "path"\npaht = "/x.gguf"\n')
    with pytest.raises(UsageError, match=r"under \[source\]: 'paht'.*Did you mean 'path'"):
        catalog.load_catalog(settings)


def test_wrong_types_name_the_key(settings):
    write_entry(settings, "a", 'name = "a"\nextends = "smollm2-135m"\n[params]\ntop_k = "40"\n')
    with pytest.raises(UsageError, match=r"a.toml: \[params\] top_k: Input should be a valid integer"):
        catalog.load_catalog(settings)
    write_entry(settings, "a", 'name = "a"\nextends = "smollm2-135m"\n[params]\nmax_tokens = 4096\n')
    with pytest.raises(UsageError, match="max_tokens 4096 leaves no room for a prompt in n_ctx 2048"):
        catalog.load_catalog(settings)


def test_extends_inherits_and_overrides(settings):
    write_entry(settings, "rp1", 'name = "rp1"\nextends = "smollm2-135m"\n[params]\nrepeat_penalty = 1.0\n')
    write_entry(settings, "rp1-short", 'name = "rp1-short"\nextends = "rp1"\n[params]\nmax_tokens = 32\n')
    base, child = catalog.get_model(settings, "smollm2-135m"), catalog.get_model(settings, "rp1-short")
    assert child.source == base.source and child.prompt == base.prompt and child.extends == "rp1"
    assert (child.params.repeat_penalty, child.params.max_tokens, child.params.top_k) == (1.0, 32, 40)
    gemma = catalog.get_model(settings, "gemma3-270m")
    write_entry(settings, "g", 'name = "g"\nextends = "gemma3-270m"\n[prompt]\nstop = ["\\n"]\n')
    g = catalog.get_model(settings, "g")
    assert g.prompt.stop == ["\n"] and g.prompt.template == gemma.prompt.template  # merged key by key


def test_extends_cycle_and_unknown_parent_refused(settings):
    write_entry(settings, "a", 'name = "a"\nextends = "b"\n')
    write_entry(settings, "b", 'name = "b"\nextends = "a"\n')
    with pytest.raises(UsageError, match="makes a cycle"):
        catalog.load_catalog(settings)
    write_entry(settings, "b", 'name = "b"\nextends = "smollm2-13m"\n')
    write_entry(settings, "a", 'name = "a"\nextends = "b"\n')
    with pytest.raises(UsageError, match="'smollm2-13m' is not a known model. Did you mean 'smollm2-135m'"):
        catalog.load_catalog(settings)


def test_legacy_user_entry_without_kind_still_loads(settings):
    write_entry(settings, "old", 'name = "old"\n[source]\npath = "/m.gguf"\n[params]\nn_ctx = 2048\nmax_tokens = 64\n')
    old = catalog.get_model(settings, "old")
    assert old.source.kind == "path" and old.params.max_tokens == 64


def test_study_defaults_in_one_place():
    p = Params()
    assert (p.temperature, p.top_p, p.top_k, p.repeat_penalty, p.penalty_last_n, p.min_p) == (
        0.01,
        1.0,
        40,
        1.1,
        64,
        0.05,
    )


def test_sampling_that_reaches_llama_cpp(monkeypatch, tmp_path):
    """Every sampling value goes to create_completion, the penalty window and load settings to Llama()."""
    calls = {}

    class FakeLlama:
        model = None

        def __init__(self, path, **kwargs):
            calls["init"] = kwargs

        def create_completion(self, prompt, **kwargs):
            calls["completion"] = kwargs
            return iter([{"choices": [{"text": "ok"}]}])

        def reset(self):
            pass

    import llama_cpp

    monkeypatch.setattr(llama_cpp, "Llama", FakeLlama)
    monkeypatch.setattr(llama_cpp, "llama_perf_context_reset", lambda ctx: None)
    monkeypatch.setattr(llama_cpp, "llama_set_abort_callback", lambda ctx, callback, data: None)
    monkeypatch.setattr(llama_cpp, "llama_model_n_layer", lambda model: 30)
    monkeypatch.setattr(
        llama_cpp,
        "llama_perf_context",
        lambda ctx: type("P", (), dict(n_p_eval=1, t_p_eval_ms=1, n_eval=1, t_eval_ms=1)),
    )
    s = ModelSpec(name="m", source={"kind": "path", "path": "/m.gguf"}, params={"top_k": 20})
    runner = llm_module.LlamaRunner(tmp_path / "m.gguf", s, Placement(n_threads=3))
    runner.llm._ctx = type("C", (), {"ctx": None})
    runner.generate(llm_module.Prompt("hi", ["</s>"]))
    assert calls["completion"] == {
        "max_tokens": 256,
        "temperature": 0.01,
        "top_p": 1.0,
        "top_k": 20,
        "min_p": 0.05,
        "typical_p": 1.0,
        "repeat_penalty": 1.1,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "mirostat_mode": 0,
        "mirostat_tau": 5.0,
        "mirostat_eta": 0.1,
        "seed": 42,
        "stop": ["</s>"],
        "stream": True,
    }
    assert calls["init"] == {
        "n_ctx": 2048,
        "n_batch": 512,
        "n_gpu_layers": 0,
        "last_n_tokens_size": 64,
        "seed": 42,
        "n_threads": 3,
        "n_threads_batch": 3,
        "flash_attn": False,
        "verbose": False,
    }


def test_resolved_call_records_library_defaults():
    def f(a, b=2, c="x", d=None, *, e=[1]):  # noqa: B006 - a signature under test
        pass

    assert llm_module.resolved_call(f, {"a": 1, "c": "y"}) == {"a": 1, "b": 2, "c": "y", "d": None}


IDENT_FIELDS = st.fixed_dictionaries(
    {
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_k": st.integers(0, 100),
        "repeat_penalty": st.floats(0.5, 2, allow_nan=False),
        "max_tokens": st.integers(1, 1000),
    }
)


def _ident(params: dict, sha: str = "a" * 64, kind: str = "chat") -> dict:
    s = ModelSpec(name="m", source={"kind": "path", "path": "/m.gguf"}, params=params)
    return identity.identity(s, sha, kind).identity


@given(IDENT_FIELDS, st.randoms())
def test_digest_is_stable_under_key_order(params, rnd):
    ident = _ident(params)
    shuffled = json.loads(json.dumps(ident))
    items = list(shuffled["params"].items())
    rnd.shuffle(items)
    shuffled["params"] = dict(items)
    assert identity.digest(shuffled) == identity.digest(ident)


@given(IDENT_FIELDS, st.sampled_from(["temperature", "top_k", "repeat_penalty", "max_tokens", "sha", "kind"]))
def test_digest_changes_with_any_field(params, field):
    before = identity.digest(_ident(params))
    if field == "sha":
        after = identity.digest(_ident(params, sha="b" * 64))
    elif field == "kind":
        after = identity.digest(_ident(params, kind="study"))
    else:
        changed = {**params, field: params[field] + 1}
        after = identity.digest(_ident(changed))
    assert after != before


def test_changes_line_reads_like_a_diff():
    old = {"params": {"repeat_penalty": 1.0, "n_ctx": 2048}}
    new = {"params": {"repeat_penalty": 1.1, "n_ctx": 2048, "top_k": 40}}
    assert identity.changes(old, new) == ["repeat_penalty 1 -> 1.1", "top_k unset -> 40"]


def test_config_file_is_strict_and_names_the_key(home):
    (home / "config.toml").write_text('lease_s = "60"\n')
    with pytest.raises(UsageError, match=r"config file .*config.toml: lease_s = '60' is not valid"):
        load_settings()
    (home / "config.toml").write_text("leas_s = 60\n")
    with pytest.raises(UsageError, match="unknown key: 'leas_s' is not a known setting. Did you mean 'lease_s'"):
        load_settings()


def test_environment_values_checked_with_their_variable(home, monkeypatch):
    monkeypatch.setenv("RAGQ_LEASE_S", "soon")
    with pytest.raises(UsageError, match="environment RAGQ_LEASE_S: lease_s = 'soon' is not valid"):
        load_settings()
    monkeypatch.setenv("RAGQ_LEASE_S", "0")
    with pytest.raises(UsageError, match="greater than or equal to 1"):
        load_settings()


def test_config_show_redacts_and_names_origins(home, monkeypatch):
    (home / "config.toml").write_text('database_url = "postgresql://u:secret@db/x"\nlease_s = 30\n')
    monkeypatch.setenv("RAGQ_LEASE_S", "45")
    rows = {r["key"]: r for r in describe(load_settings())}
    assert rows["database_url"]["value"] == "postgresql://u:***@db/x" and "secret" not in json.dumps(rows)
    assert rows["lease_s"] == {"key": "lease_s", "value": 45, "origin": "environment RAGQ_LEASE_S"}
    assert rows["home"]["origin"] == "environment RAGQ_HOME" and rows["max_attempts"]["origin"] == "default"
