"""Threads, memory, offload and scheduling decisions, each platform's branch faked where it cannot run here."""

import sys
from pathlib import Path

import pytest

from ragq.producer import memory, supervisor
from ragq.producer.cli.output import statuses
from ragq.shared import hardware
from ragq.shared.errors import ResourceError
from ragq.shared.models import placement as machine
from ragq.shared.models.placement import Placement

# SmolLM2-135M's GGUF metadata (read with llama.cpp from the catalog file)
SMOLLM2 = {
    "general.architecture": "llama",
    "llama.block_count": "30",
    "llama.embedding_length": "576",
    "llama.attention.head_count": "9",
    "llama.attention.head_count_kv": "3",
}


def test_threads_on_apple_silicon_are_the_performance_cores():
    sysctl = {"hw.perflevel0.physicalcpu": 4}.get
    assert hardware.default_threads("darwin", "arm64", sysctl, lambda: 8) == (4, "performance cores")


def test_threads_elsewhere_are_the_physical_cores():
    assert hardware.default_threads("linux", "x86_64", lambda name: None, lambda: 8) == (8, "physical cores")
    # an Intel Mac has no performance levels: its physical cores
    assert hardware.default_threads("darwin", "x86_64", lambda name: 99, lambda: 4) == (4, "physical cores")
    # a Mac whose sysctl does not answer falls back too
    assert hardware.default_threads("darwin", "arm64", lambda name: None, lambda: 8) == (8, "physical cores")


def test_threads_fall_back_to_logical_cpus(monkeypatch):
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 6)
    assert hardware.default_threads("linux", "x86_64", lambda name: None, lambda: None) == (6, "logical CPUs")


def test_kv_cache_by_hand():
    # 2048 tokens x 30 layers x 3 KV heads x (64 + 64) dims x 2 bytes = 45 MiB
    assert memory.kv_cache_mb(SMOLLM2, 2048) == pytest.approx(2048 * 30 * 3 * 128 * 2 / 2**20) == 45.0
    # explicit key/value lengths win over embedding / heads (Gemma 3 declares them)
    gemma = {"general.architecture": "gemma3", "gemma3.block_count": 18, "gemma3.embedding_length": 640,
             "gemma3.attention.head_count": 4, "gemma3.attention.head_count_kv": 1,
             "gemma3.attention.key_length": 256, "gemma3.attention.value_length": 256}  # fmt: skip
    assert memory.kv_cache_mb(gemma, 1024) == pytest.approx(1024 * 18 * 1 * 512 * 2 / 2**20)


def test_need_is_file_plus_cache_plus_worker():
    assert memory.need_mb(100 * 2**20, 45.0) == 100 + 45 + memory.WORKER_OVERHEAD_MB


@pytest.mark.parametrize(
    "value, supports, expected", [("auto", False, 0), ("auto", True, -1), (0, True, 0), (12, False, 12), (-1, True, -1)]
)
def test_auto_offload_resolves_by_build(value, supports, expected):
    assert machine.resolve_gpu_layers(value, supports) == expected


def test_backend_and_layers_offloaded():
    cpu = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | OPENMP = 1 | REPACK = 1 |"
    assert machine.backend(cpu, False) == "CPU"
    assert machine.backend("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 |", True) == "Metal"
    assert machine.backend("CUDA : ARCHS = 900 | USE_GRAPHS = 1 | CPU : AVX2 = 1 |", True) == "CUDA"
    assert machine.offload(-1, 30, True) == 31 and machine.offload(10, 30, True) == 10
    assert machine.offload(-1, 30, False) == 0


def test_device_name_per_platform():
    assert hardware.device_name("CUDA", "linux", nvml=lambda: {"name": "NVIDIA H100"}) == "NVIDIA H100"
    assert hardware.device_name("CUDA", "linux", nvml=lambda: None) is None


def test_mac_chip_name_from_sysctl(monkeypatch):
    """A Mac's chip, as sysctl names it (Metal cannot run here: the command is faked, its argv checked)."""
    import subprocess

    calls = []

    def sysctl(argv, **_):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "Apple M2 Pro\n", "")

    monkeypatch.setattr(hardware.subprocess, "run", sysctl)
    assert hardware.device_name("Metal", "darwin") == "Apple M2 Pro"
    assert calls == [["sysctl", "-n", "machdep.cpu.brand_string"]]

    def missing(argv, **_):
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(hardware.subprocess, "run", missing)
    assert hardware.device_name("Metal", "darwin") is None


def test_cpu_name_is_the_model_lscpu_reports(tmp_path):
    """The CPU's name checked against util-linux's lscpu (its own parser of /proc/cpuinfo), not ragq's reading."""
    import platform
    import shutil
    import subprocess

    if sys.platform != "linux":
        pytest.skip("lscpu and /proc/cpuinfo are Linux's (the Mac's sysctl branch is its own test)")
    lscpu = shutil.which("lscpu")
    assert lscpu and Path("/proc/cpuinfo").exists(), "a Linux test machine has lscpu and /proc/cpuinfo"
    shown = subprocess.run([lscpu], capture_output=True, text=True, env={"LC_ALL": "C"}, check=True).stdout
    model = next(line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("Model name:"))
    assert hardware.device_name("CPU", "linux") == model
    arm = tmp_path / "cpuinfo"  # an ARM board's cpuinfo names no model: the architecture stands in
    arm.write_text("processor\t: 0\nBogoMIPS\t: 48.00\nCPU implementer\t: 0x41\n")
    architecture = platform.processor() or platform.machine()
    assert architecture and hardware.device_name("CPU", "linux", cpuinfo=str(arm)) == architecture
    assert hardware.device_name("CPU", "linux", cpuinfo=str(tmp_path / "none")) == architecture


def test_a_model_that_cannot_fit_alone_is_refused_in_one_line():
    with pytest.raises(ResourceError) as err:
        memory.check_fits_alone({"small": 500, "big": 6000}, (4000.0, "memory_limit_mb"))
    assert "'big' needs about 6,000 MB" in str(err.value) and "\n" not in str(err.value)
    memory.check_fits_alone({"small": 500}, (4000.0, "available memory"))


def test_threads_split_only_under_parallel():
    cores = (8, "physical cores")
    alone, why = machine.default_placement(1, cores)
    assert (alone.n_threads, alone.batch_threads) == (8, 8) and why.startswith("physical cores")
    pair, why = machine.default_placement(2, cores)
    assert (pair.n_threads, pair.batch_threads) == (4, 4) and "/ 2 workers" in why
    two_cores, _ = machine.default_placement(1, (2, "physical cores"))
    assert (two_cores.n_threads, two_cores.batch_threads) == (2, 2)  # bench/RESULTS.md, tune
    assert machine.default_placement(2, (2, "physical cores"))[0].label() == "t1/b1"
    assert supervisor.oversubscribed(Placement(n_threads=8), 2, cores=8) is not None
    assert "--threads 4" in supervisor.oversubscribed(Placement(n_threads=8), 2, cores=8)
    assert supervisor.oversubscribed(Placement(n_threads=4), 2, cores=8) is None


def test_a_tuned_placement_is_used_unless_options_override_it(settings):
    from ragq.shared.models import tuned

    tuned.save(settings, "ab" * 32, "m", Placement(n_threads=1, n_threads_batch=2, flash_attn=True), [])
    saved = tuned.saved(settings, "ab" * 32)
    chosen, why = machine.choose(machine.PlacementOptions(), saved)
    assert chosen.label() == "t1/b2 fa" and why.startswith("tuned ")
    chosen, why = machine.choose(machine.PlacementOptions(threads=2), saved)
    assert (chosen.label(), why.split()[0]) == ("t2/b2 fa", "options")
    assert machine.choose(machine.PlacementOptions(), saved, parallel=2)[0].label() != "t1/b2 fa"  # shares the host
    assert tuned.saved(settings, "cd" * 32) is None and tuned.saved(settings, "ab" * 32, host="elsewhere") is None


def test_progress_names_the_running_model_and_who_waits():
    status = statuses({1: "a", 2: "a", 3: "b", 4: "c"}, running=["a"], waiting=["b", "c"])
    assert status == {
        1: "a running",
        2: "a running",
        3: "b waits (1 model before it)",
        4: "c waits (2 models before it)",
    }
    assert statuses({1: "a"}, [], []) == {1: "a finished"}


def placed(*args: str):
    """What a command declared with the shared placement options receives for `args`, or its one-line error."""
    import click
    from click.testing import CliRunner

    from ragq.shared.cli import Command, placement_options

    @click.command(cls=Command)
    @placement_options
    def command(placement):
        click.echo(placement.model_dump_json())

    result = CliRunner().invoke(command, list(args))
    if result.exit_code:
        return result.output.strip()
    return machine.PlacementOptions.model_validate_json(result.output)


def test_placement_options_are_checked_where_they_enter():
    assert placed("--gpu-layers", "auto").gpu_layers == "auto"
    assert placed("--gpu-layers", "-1").gpu_layers == -1 and placed().gpu_layers is None
    assert placed("--gpu-layers", "all") == (
        "Error: --gpu-layers 'all': give a number of layers (-1 for all, 0 for the CPU) or 'auto'."
    )
    assert placed("--gpu-layers", "-2").startswith("Error: --gpu-layers '-2'")
    assert placed("--threads", "0") == "Error: --threads 0: give 1 or more threads."
    assert placed("--threads-batch", "0") == "Error: --threads-batch 0: give 1 or more threads."


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--threads", "3"],
        ["--threads", "2", "--threads-batch", "4", "--gpu-layers", "auto", "--flash-attn"],
        ["--gpu-layers", "12", "--no-flash-attn", "--no-tuned"],
        ["--threads-batch", "1", "--gpu-layers", "-1"],
    ],
)
def test_a_worker_command_line_reads_back_as_the_options_it_came_from(args):
    options = placed(*args)
    assert options.argv() == args and placed(*options.argv()) == options


def test_a_whole_placement_goes_to_a_worker_as_is():
    whole = Placement(n_threads=2, n_gpu_layers=12)
    assert whole.as_options().argv() == [
        "--threads", "2", "--threads-batch", "2", "--gpu-layers", "12", "--no-flash-attn", "--no-tuned"
    ]  # fmt: skip
    saved = (Placement(n_threads=1, flash_attn=True), "tuned")
    chosen, why = machine.choose(placed(*whole.as_options().argv()), saved)  # --no-tuned: the saved one is not used
    assert (chosen, why) == (whole, "as given")  # the caller chose it: not chosen again
    assert machine.choose(whole, saved) == (whole, "as given")


def test_every_command_that_places_a_model_declares_the_same_options():
    from ragq.producer.cli import main as cli
    from ragq.worker.__main__ import main as worker_entry

    def placement_params(command) -> list[str]:
        wanted = {"threads", "threads_batch", "gpu_layers", "flash_attn", "tuned"}
        return [f"{p.name}:{p.opts}{p.secondary_opts}:{p.help}" for p in command.params if p.name in wanted]

    commands = [cli.commands["run"], cli.commands["worker"], worker_entry, cli.commands["models"].commands["check"]]
    declared = [placement_params(c) for c in commands]
    assert len(declared[0]) == 5 and all(d == declared[0] for d in declared)
    # tune measures placements and never starts from a saved one: the same options, less --tuned/--no-tuned
    assert placement_params(cli.commands["models"].commands["tune"]) == declared[0][:4]


def test_a_worker_is_started_by_the_same_options_from_both_entries():
    from ragq.producer.cli import main as cli
    from ragq.worker.__main__ import main as worker_entry

    def described(command) -> list[str]:
        return [f"{p.name}:{p.opts}{p.secondary_opts}:{p.help}:{p.default}" for p in command.params]

    ragq_worker = described(cli.commands["worker"])
    assert ragq_worker == [p for p in described(worker_entry) if not p.startswith(("home:", "standby:"))]


def test_a_layer_count_is_read_by_one_parser_wherever_it_is_given():
    from ragq.producer.cli import main as cli
    from ragq.shared.cli import layer_count

    add = {p.name: p for p in cli.commands["models"].commands["add"].params}
    run = {p.name: p for p in cli.commands["run"].params}
    assert add["n_gpu_layers"].callback is layer_count and run["gpu_layers"].callback is layer_count
    assert [layer_count(None, None, v) for v in ("12", "-1", "auto", None)] == [12, -1, "auto", None]


def test_a_whole_placement_is_not_chosen_again_nor_the_tuned_file_read(settings, monkeypatch):
    from ragq.shared.models import tuned

    monkeypatch.setattr(tuned, "saved_for", lambda *a: pytest.fail("the tuned file was read"))
    whole = Placement(n_threads=2, n_threads_batch=1, flash_attn=True)
    assert tuned.placement_for(settings, "any", whole.as_options()) == (whole, "as given")
    assert tuned.placement_for(settings, "any", machine.PlacementOptions(tuned=False))[1] != "as given"
    assert tuned.placement_for(settings, "any", machine.PlacementOptions(), parallel=2)[0].n_threads >= 1


def test_auto_resolves_in_one_place_for_worker_and_bench():
    placement = Placement(n_threads=3)
    assert placement.load_args("auto", supports_offload=False) == {
        "n_threads": 3,
        "n_threads_batch": 3,
        "n_gpu_layers": 0,
        "flash_attn": False,
    }
    assert placement.load_args("auto", supports_offload=True)["n_gpu_layers"] == -1
    assert Placement(n_threads=3, n_gpu_layers=5).load_args("auto", supports_offload=True)["n_gpu_layers"] == 5


def test_placement_from_provenance():
    from ragq.shared.store.results import placement

    cpu = {"host_workers": 1, "offload": {"backend": "CPU", "layers_offloaded": 0, "layers_total": 31}}
    gpu = {"host_workers": 2, "offload": {"backend": "CUDA", "layers_offloaded": 31, "layers_total": 31}}
    assert placement(cpu) == (1, "CPU")
    assert placement(gpu) == (2, "CUDA 31/31 layers")
    assert placement({}) == (None, None)  # results stored before either was recorded


def test_compare_notes_runs_measured_differently():
    from types import SimpleNamespace

    from ragq.producer.results.compare import placement_notes

    alone = SimpleNamespace(host_workers=1, placement="CPU", build="0.3.36 AVX2")
    shared = SimpleNamespace(host_workers=2, placement="CPU", build="0.3.36 AVX2")
    gpu = SimpleNamespace(host_workers=1, placement="Metal 31/31 layers", build="0.3.36 AVX2")
    native = SimpleNamespace(host_workers=1, placement="CPU", build="0.3.36 AVX2 AVX512")
    unknown = SimpleNamespace(host_workers=1, placement="CPU", build=None)  # stored before builds were read
    assert placement_notes(alone, alone) == []
    assert "not comparable" in placement_notes(alone, shared)[0]
    assert placement_notes(alone, gpu) == ["run A's model ran on CPU, run B's on Metal 31/31 layers."]
    assert placement_notes(alone, native) == [
        "run A's llama.cpp (0.3.36 AVX2) and run B's (0.3.36 AVX2 AVX512) differ: one model can word its answers "
        "differently on two builds, so not every difference in answers is the model's."
    ]
    assert placement_notes(alone, unknown) == []


def test_build_from_provenance():
    from ragq.shared.store.results import build

    info = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | FMA = 1 | OPENMP = 1 | "
    assert build({"llama_cpp_python": "0.3.36", "llama_cpp_system_info": info}) == "0.3.36 SSE3 AVX2 FMA OPENMP"
    assert build({}) is None
