"""`ragq models tune NAME`: the placements that matter, each measured in a real worker on real prompts; the
fastest saved for this host and model file.

Each placement runs as `ragq run` would run it: a worker process started through `python -m ragq.worker`, jobs
through the broker, answers stored. The measuring home is a scratch one (its own SQLite and embedded Redis, the
user's index and model files linked in), so tuning adds no runs to the user's results. Speeds are llama.cpp's own
counters per answer (prompt tokens over prompt evaluation time, generated tokens over generation time); the
winner is the placement with the shortest typical answer: the median prompt and answer lengths of this model
on these prompts, at the placement's median speeds, so that a placement is not favoured by answers that happened
to be shorter.
"""

import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ragq.producer import supervisor
from ragq.producer.planning import RunRequest
from ragq.producer.questions import parse_qa_file
from ragq.shared.broker import embedded
from ragq.shared.config import Settings
from ragq.shared.corpus.index import load_index
from ragq.shared.errors import UsageError
from ragq.shared.hardware import default_threads
from ragq.shared.models import catalog, files, tuned
from ragq.shared.models.placement import Placement, PlacementOptions, default_placement
from ragq.shared.records import RunSettings
from ragq.shared.store.door import Store

Say = Callable[[str], None]


@dataclass(frozen=True)
class Trial:
    placement: Placement
    prompt_tok_s: list[float]  # one per answer
    gen_tok_s: list[float]
    answer_s: list[float]
    prompt_tokens: list[int]
    gen_tokens: list[int]

    def typical_s(self, prompt_tokens: float, gen_tokens: float) -> float:
        return prompt_tokens / statistics.median(self.prompt_tok_s) + gen_tokens / statistics.median(self.gen_tok_s)


@dataclass(frozen=True)
class TuneReport:
    model: str
    trials: list[Trial]
    prompt_tokens: float  # the median prompt this model got here
    gen_tokens: float  # the median answer length
    best: Placement
    default: Placement
    saved_to: Path | None

    def rows(self) -> list[dict]:
        return [_row(t, self) for t in self.trials]


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _row(trial: Trial, report: "TuneReport") -> dict:
    placement = trial.placement
    return {
        "placement": placement.label(),
        "n_threads": placement.n_threads,
        "n_threads_batch": placement.batch_threads,
        "n_gpu_layers": placement.n_gpu_layers,
        "flash_attn": placement.flash_attn,
        "prompt_tok_s": _spread(trial.prompt_tok_s),
        "gen_tok_s": _spread(trial.gen_tok_s),
        "answer_s": _spread(trial.answer_s),
        "typical_s": trial.typical_s(report.prompt_tokens, report.gen_tokens),
        "answers": len(trial.answer_s),
        "winner": placement == report.best,
        "default": placement == report.default,
    }


def generation_stage(cores: int, quick: bool = False) -> list[Placement]:
    """First stage: generation on 1, half, all but one and all cores, prompts on every core. --quick: the default
    and one generation thread fewer."""
    gen = {max(1, cores - 1), cores} if quick else {1, max(1, cores // 2), max(1, cores - 1), cores}
    return [Placement(n_threads=g, n_threads_batch=cores) for g in sorted(gen, reverse=True)]


def later_stage(cores: int, gen: int, supports_offload: bool, quick: bool = False) -> list[Placement]:
    """Second stage, at the fastest generation thread count: prompts on half the cores; flash attention, on the CPU
    or, with an accelerator, with every layer on it (and without). Generation (one token per step, n_threads) and
    prompt evaluation (batches, n_threads_batch) are separate phases of an answer, so their thread counts are chosen
    one after the other rather than as a grid: 4 placements on 2 cores where the grid of thread counts and flash
    attention would be 8.

    Flash attention on the CPU is a candidate, not the default, because it goes both ways (bare llama-cpp-python on
    a 2-core AVX-512 Xeon, prompts of ~1,000 tokens; bench tune shows it in a worker): prompt evaluation 1.05-1.25x
    faster for both catalog models, but generation half as fast for SmolLM2 on the -march=native build and
    unchanged for Gemma."""
    found = [] if quick else [Placement(n_threads=gen, n_threads_batch=max(1, cores // 2))]
    if not quick:
        found += [Placement(n_threads=gen, n_threads_batch=cores, flash_attn=True)]
    if supports_offload and not quick:
        found += [Placement(n_threads=gen, n_gpu_layers=-1, flash_attn=fa) for fa in (False, True)]
    return [p for p in found if p != Placement(n_threads=gen, n_threads_batch=cores)]


def _typical(trials: list[Trial]) -> tuple[float, float]:
    """The median prompt and answer lengths over every answer measured so far."""
    return (
        statistics.median(n for t in trials for n in t.prompt_tokens),
        statistics.median(n for t in trials for n in t.gen_tokens),
    )


def fastest(trials: list[Trial]) -> Trial:
    lengths = _typical(trials)
    return min(trials, key=lambda t: t.typical_s(*lengths))


def tune(
    settings: Settings,
    model: str,
    *,
    index: str | None = None,
    questions: str | None = None,
    repeat: int = 2,
    quick: bool = False,
    save: bool = True,
    fixed: PlacementOptions = PlacementOptions(),
    say: Say = print,
) -> TuneReport:
    """Measure the candidate placements of `model` on this host in two stages, with what `fixed` names held at its
    value (`ragq models tune NAME --gpu-layers 20`); save the fastest unless save is False."""
    import llama_cpp

    spec = catalog.get_model(settings, model)
    sha = files.file_sha256(settings, files.model_path(settings, spec))
    if (index is None) != (questions is None):
        raise UsageError("give --index and --questions together (the prompts to tune on), or neither for the demo.")
    cores = default_threads()[0]
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    with scratch_home(settings, index, questions, 2) as (scratch, index_name):
        trials: list[Trial] = []

        def measure_all(placements: list[Placement]) -> None:
            measured = {t.placement for t in trials}
            for placement in dict.fromkeys(p for p in map(fixed.over, placements) if p not in measured):
                say(f"[{len(trials) + 1}] {model} at {placement.label()} ...")
                trials.append(measure(scratch, model, placement, index_name, 1 if quick else repeat))

        measure_all(generation_stage(cores, quick))
        measure_all(later_stage(cores, fastest(trials).placement.n_threads, offload, quick))
    prompt_tokens, gen_tokens = _typical(trials)
    best = fastest(trials).placement
    report = TuneReport(model, trials, prompt_tokens, gen_tokens, best, default_placement()[0], None)
    if save:
        report = TuneReport(**{**report.__dict__, "saved_to": tuned.save(settings, sha, model, best, report.rows())})
    return report


def measure(scratch: Settings, model: str, placement: Placement, index: str, repeat: int) -> Trial:
    """One placement: a real worker answers the tuning questions (a new run each time); its answers' speeds."""
    req = RunRequest(
        models=[model], ratios=[0.3], index=index, questions="tune", new_run=True, settings=RunSettings(repeat=repeat)
    )
    plan = supervisor.run(
        scratch, req, lambda *a: None, placement=placement, warn=lambda line: None, say=lambda line: None
    )
    rows = [r for r in Store(scratch).answers(plan.run_ids) if r.prompt_eval_s and r.gen_s]
    if not rows:
        raise UsageError(f"no answer of '{model}' at {placement.label()} was timed: see {scratch.home / 'logs'}.")
    return Trial(
        placement,
        [r.prompt_tokens / r.prompt_eval_s for r in rows],
        [r.gen_tokens / r.gen_s for r in rows],
        [r.total_s for r in rows],
        [r.prompt_tokens for r in rows],
        [r.gen_tokens for r in rows],
    )


@contextmanager
def scratch_home(settings: Settings, index: str | None, questions: str | None, count: int) -> Iterator[tuple]:
    """A home of its own for the measuring runs: the user's model files and embedder linked in, the tuning index
    (the user's, linked; or the demo guide, ingested here) and `count` of its questions as set 'tune'."""
    folder = Path(tempfile.mkdtemp(prefix="rqtune", dir="/tmp" if os.path.isdir("/tmp") else None))  # short socket
    try:
        (settings.home / "embedders").mkdir(parents=True, exist_ok=True)
        for name in ("models", "embedders"):
            if (settings.home / name).exists():
                (folder / name).symlink_to(settings.home / name)
        _copy_config(settings, folder)
        scratch = settings.model_copy(update={"home": folder, "database_url": None, "broker_url": None})
        pairs, index_name = _prompts(settings, scratch, index, questions)
        Store(scratch).import_questions("tune", "ragq models tune", pairs[:count])
        server = embedded(scratch)
        server.start()  # once for every trial
        try:
            yield scratch, index_name
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _prompts(settings: Settings, scratch: Settings, index: str | None, questions: str | None) -> tuple:
    """(question pairs, index name) in the scratch home: the user's index and set, or the shipped demo."""
    if index is None or questions is None:
        from ragq.producer.ingest.pipeline import ingest

        data = resources.files("ragq.producer.demo")
        with resources.as_file(data / "guide.pdf") as pdf, resources.as_file(data / "questions.txt") as qa:
            ingest(scratch, "demo", [pdf], lambda stage, done, total: None)
            return parse_qa_file(qa), "demo"
    built = load_index(settings.indexes_dir, index)  # a clear error when it does not exist
    scratch.indexes_dir.mkdir(parents=True)
    (scratch.indexes_dir / index).symlink_to(settings.indexes_dir / index)
    Store(scratch).record_index(built.manifest, str(settings.indexes_dir / index))
    return Store(settings).question_pairs(questions), index


def _copy_config(settings: Settings, folder: Path) -> None:
    """The user's config.toml (its workers read it), less where results and messages go: those stay in scratch."""
    source = settings.home / "config.toml"
    if source.exists():
        keep = [
            line
            for line in source.read_text().splitlines()
            if not line.lstrip().startswith(("database_url", "broker_url"))
        ]
        (folder / "config.toml").write_text("\n".join(keep) + "\n")
