"""Benchmark a vocoder (any vocoder) under a protocol, and run resumable grids of the zoo.

Used by: ``greenaudio bench``, notebooks/05_1_cost_benchmark.ipynb (Table 8, Figures 33-34).

:func:`benchmark_model` takes a greenaudio :class:`~greenaudio.vocoders.Vocoder`, any ``nn.Module`` or a plain
callable mapping a mel ``(B, 80, frames)`` to a waveform ``(B, frames * hop_length)`` and measures, in one cell:
parameters (both conventions), GFLOPs per second of audio (whole procedure), the real-time factor (warm-up, repeats,
CUDA synchronisation, median and spread) and the energy of the protocol (measured or estimated, with provenance).
:func:`run_grid` does it for (model, size, device, precision, repetition) cells, writing each to a
:class:`~greenaudio.measure.ResultStore` as soon as it is done and skipping the cells already there.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from .energy import EnergyMonitor, _fraction
from .environment import collect_environment, read_git_commit
from .flops import count_flops
from .protocol import THESIS_PROTOCOL, Protocol, torch_dtype
from .records import BenchmarkRecord
from .store import ResultStore
from .timing import compute_timing, synchronize
from ..validation import check_choice, check_non_negative_int, check_positive_int

__all__ = ["benchmark_model", "run_grid", "plan_grid", "GridResult", "check_device", "make_mel_batches",
           "failed_record", "energy_settings_key", "environment_key", "procedure_key", "code_version"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def procedure_key(procedure: dict[str, Any] | None) -> str:
    """The requested inference procedure as canonical JSON (``"{}"``: the model's default)."""
    return _canonical(_jsonable(dict(procedure or {})))


def energy_settings_key(
    device: str | torch.device, *, energy_mode: str = "auto", hardware: str | None = None, utilisation: float = 1.0,
    cpu_cores_total: int | None = None,
) -> str:
    """Canonical JSON of every energy setting that changes a number: mode, power model, hardware, utilisation and
    cores. On a CPU without explicit hardware the power model is CodeCarbon's process rule (its version named)."""
    from .power_models import codecarbon_power_model_key

    dev = torch.device(device)
    if hardware is None and dev.type == "cpu":
        model = codecarbon_power_model_key()  # CPU and RAM rules: cells stored under the CPU rule alone are not reused
    else:
        model = "catalogue-power-x-time"
    settings: dict[str, Any] = {"mode": energy_mode, "power_model": model, "hardware": hardware}
    if model == "catalogue-power-x-time":
        settings |= {"utilisation": utilisation, "cpu_cores_total": cpu_cores_total}
    return _canonical(settings)


def environment_key(environment: dict[str, Any], threads: int | None) -> str:
    """The environment fingerprint of a cell: machine, CPU model, GPU, torch version and threads (canonical JSON)."""
    return _canonical({
        "machine": environment.get("hostname"), "cpu_model": environment.get("cpu_model"),
        "gpu_model": environment.get("gpu_model"), "torch": (environment.get("packages") or {}).get("torch"),
        "threads": threads if threads is not None else environment.get("torch_threads"),
    })


def code_version() -> str:
    """greenaudio's version and git commit (``+dirty`` if changed), stored with each cell."""
    from importlib import metadata

    try:
        version = metadata.version("greenaudio")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "unknown"
    return f"greenaudio {version} ({read_git_commit() or 'no git commit'})"


def check_device(device: str | torch.device) -> torch.device:
    """Validate a device string: ``"cpu"``, or ``"cuda"``/``"cuda:i"`` when that GPU exists."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; valid devices: {_valid_devices()}") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; valid devices: {_valid_devices()}")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist; valid devices: {_valid_devices()}")
        return torch.device("cuda", index)
    raise ValueError(f"unsupported device {device!r}; valid devices: {_valid_devices()}")


def _valid_devices() -> list[str]:
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else ["cpu"]


def make_mel_batches(
    protocol: Protocol, hop_length: int, n_mels: int, sample_rate: int, *, device: torch.device, dtype: torch.dtype
) -> list[torch.Tensor]:
    """The protocol's conditioning: ``n_clips`` random normalised mels split into batches of ``batch_size``.

    Returns:
        list of tensors ``(b, n_mels, frames)``; random N(0, 1) values from ``protocol.seed`` (the cost of these
        models does not depend on the mel's content).
    """
    frames = protocol.n_frames(hop_length, sample_rate=sample_rate)
    gen = torch.Generator().manual_seed(protocol.seed)
    batches = []
    left = protocol.n_clips
    while left > 0:
        b = min(protocol.batch_size, left)
        batches.append(torch.randn(b, n_mels, frames, generator=gen).to(device=device, dtype=dtype))
        left -= b
    return batches


@dataclass
class _Target:
    """A model made uniform: ``run(mel) -> (audio, procedure)``."""

    run: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, Any]]]
    module: nn.Module | None
    hop_length: int
    sample_rate: int
    n_mels: int
    family: str | None
    procedure: dict[str, Any] = field(default_factory=dict)


def _positive_int_arg(name: str, value: Any) -> int:
    """An integer >= 1 (numpy integers accepted, returned as ``int``; bools, floats and strings rejected)."""
    try:
        return check_positive_int(name, value)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None


def _as_target(
    model: Any,
    *,
    hop_length: int | None,
    sample_rate: int | None,
    n_mels: int | None,
    procedure: dict[str, Any] | None,
    seed: int,
    prepare: bool,
) -> _Target:
    from greenaudio.vocoders.base import Vocoder

    if isinstance(model, Vocoder):
        for name, given, own in (("hop_length", hop_length, model.hop_length), ("sample_rate", sample_rate,
                                 model.sample_rate), ("n_mels", n_mels, model.n_mels)):
            if given is not None and given != own:
                raise ValueError(f"{name}={given} contradicts the vocoder's own {name}={own}")
        resolved = model.resolve_procedure(**(procedure or {}))
        model = _rebuilt_copy(model)  # never the caller's module: eval mode, dtype and device change below
        if prepare:
            model = model.prepare_for_inference()
        model.eval()

        def run(mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
            gen = torch.Generator(device=mel.device).manual_seed(seed)
            out = model.generate(mel, generator=gen, **resolved)
            return out.audio, dict(out.procedure)

        return _Target(run, model, model.hop_length, model.sample_rate, model.n_mels, model.family, dict(resolved))
    if hop_length is None or sample_rate is None:
        raise ValueError(
            "hop_length and sample_rate are required for a model that is not a greenaudio Vocoder "
            f"(got hop_length={hop_length!r}, sample_rate={sample_rate!r})"
        )
    hop_length = _positive_int_arg("hop_length", hop_length)
    sample_rate = _positive_int_arg("sample_rate", sample_rate)
    n_mels = 80 if n_mels is None else _positive_int_arg("n_mels", n_mels)
    if procedure:
        raise ValueError("procedure= is only understood by greenaudio Vocoders; bind it into your callable instead")
    if isinstance(model, nn.Module):
        model = copy.deepcopy(model).eval()  # the caller's module keeps its mode, dtype and device

        def run_module(mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
            return model(mel), {}

        return _Target(run_module, model, hop_length, sample_rate, n_mels, None)
    if callable(model):
        return _Target(lambda mel: (model(mel), {}), None, hop_length, sample_rate, n_mels, None)
    raise ValueError(f"model must be a greenaudio Vocoder, an nn.Module or a callable, got {type(model).__name__}")


def _rebuilt_copy(model: Any) -> Any:
    """A fresh instance of a Vocoder with the same config and weights, safe to ``prepare_for_inference``.

    (Not ``copy.deepcopy``: with torch's parametrizations a deep copy shares the dynamically created
    ``Parametrized*`` class with the original, and removing the weight norm from the copy deletes the ``weight``
    property from that shared class, breaking the original model.)
    """
    try:
        fresh = type(model)(model.config)
        fresh.load_state_dict(model.state_dict())
    except Exception as exc:
        raise ValueError(
            f"cannot rebuild {type(model).__name__} from its config to remove weight norms on a copy ({exc}); "
            "call model.prepare_for_inference() yourself and pass prepare=False"
        ) from exc
    return fresh.to(next(iter(model.parameters()), torch.empty(0)).device)


def _check_audio(name: str, audio: Any, mel: torch.Tensor, hop_length: int, *, check_values: bool = True) -> None:
    expected = (mel.shape[0], mel.shape[-1] * hop_length)
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"model {name!r} returned {type(audio).__name__}, expected a tensor of shape {expected}")
    if tuple(audio.shape) != expected:
        raise ValueError(
            f"model {name!r} returned audio of shape {tuple(audio.shape)}, expected (B, frames * hop_length) = "
            f"{expected} for a mel of shape {tuple(mel.shape)} and hop_length={hop_length}"
        )
    if check_values and not torch.isfinite(audio).all():
        bad = int((~torch.isfinite(audio)).sum())
        raise ValueError(f"model {name!r} returned {bad} NaN or inf sample(s) out of {audio.numel()}")


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def benchmark_model(
    model: Any,
    *,
    name: str,
    size: str = "custom",
    protocol: Protocol = THESIS_PROTOCOL,
    device: str | torch.device = "cpu",
    hop_length: int | None = None,
    sample_rate: int | None = None,
    n_mels: int | None = None,
    procedure: dict[str, Any] | None = None,
    prepare: bool = True,
    repetition: int = 0,
    energy_mode: str = "auto",
    hardware: str | None = None,
    utilisation: float = 1.0,
    cpu_cores_total: int | None = None,
    with_flops: bool = True,
    environment: dict[str, Any] | None = None,
    store: ResultStore | None = None,
    _energy_monitor: Callable[..., EnergyMonitor] = EnergyMonitor,
) -> BenchmarkRecord:
    """Measure one vocoder under ``protocol`` into a :class:`BenchmarkRecord`.

    Args:
        model: a greenaudio ``Vocoder`` (``generate`` is used, its resolved procedure recorded), an ``nn.Module``
            (``model(mel)``) or a callable ``mel (B, n_mels, frames) -> audio (B, frames * hop_length)``. A module
            is copied before being moved to ``device``, cast to ``protocol.precision`` and put in eval mode: the
            caller's model is never changed.
        name: the model name in the tables (e.g. ``"my-vocoder"``).
        size: size label (``"small"``, ... or ``"custom"``).
        protocol: :class:`Protocol` (default: the thesis's 10 clips x 10 s at 16 kHz).
        device: ``"cpu"`` or ``"cuda[:i]"``.
        hop_length: audio samples per mel frame (required unless ``model`` is a Vocoder).
        sample_rate: output rate (in Hz; required unless ``model`` is a Vocoder).
        n_mels: mel bands (default 80, or the Vocoder's).
        procedure: inference settings passed to ``Vocoder.generate`` (e.g. ``{"steps": 50}``).
        prepare: for a Vocoder, time a copy on which ``prepare_for_inference()`` ran (weight norms removed: the
            thesis's §5.2.3 practice for flows; the output is unchanged). Parameters are counted before.
        repetition: index of this independent re-measurement (part of the record's key).
        energy_mode: ``"auto"``, ``"measured"`` or ``"estimated"`` (see :class:`EnergyMonitor`).
        hardware: catalogue name for the estimate path (``greenaudio.carbon.list_hardware()``); ``None``
            auto-detects and records any fall-back in ``energy_notes``.
        utilisation: fraction of the catalogue's maximum power assumed by a catalogue estimate, in (0, 1].
        cpu_cores_total: cores of the CPU package; with the threads used, gives the share of a CPU's TDP charged.
        with_flops: count FLOPs (on one clip of ``protocol.flop_clip_s``).
        environment: precomputed :func:`collect_environment` dict (grids pass it once); collected if ``None``.
        store: if given, the record is also written there.

    Returns:
        the :class:`BenchmarkRecord` (``status="ok"``).

    Raises:
        ValueError: bad device, protocol or model (wrong output length, NaN or inf output in any run, missing
            hop_length, ...).
    """
    from greenaudio.vocoders.base import count_parameters

    started = time.perf_counter()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a greenaudio.measure.Protocol, got {type(protocol).__name__}")
    try:
        repetition = check_non_negative_int("repetition", repetition)  # np.int64(0) -> 0, stored as a plain int
    except ValueError:
        raise ValueError(f"repetition must be an integer >= 0, got {repetition!r}") from None
    dev = check_device(device)
    dtype = torch_dtype(protocol.precision)

    params = params_no_gain = None
    if isinstance(model, nn.Module):
        params = count_parameters(model, weight_norm_gains=True)
        params_no_gain = count_parameters(model, weight_norm_gains=False)
    target = _as_target(
        model, hop_length=hop_length, sample_rate=sample_rate, n_mels=n_mels, procedure=procedure,
        seed=protocol.seed, prepare=prepare,
    )
    if target.module is not None:
        target.module.to(device=dev, dtype=dtype)

    with _threads(protocol.threads), torch.inference_mode():
        batches = make_mel_batches(protocol, target.hop_length, target.n_mels, target.sample_rate, device=dev,
                                   dtype=dtype)
        audio_s_per_run = sum(b.shape[0] * b.shape[-1] * target.hop_length for b in batches) / target.sample_rate

        def run_once() -> tuple[dict[str, Any], list[torch.Tensor]]:
            proc: dict[str, Any] = {}
            outputs = []
            for mel in batches:
                audio, proc = target.run(mel)
                _check_audio(name, audio, mel, target.hop_length, check_values=False)
                outputs.append(audio)
            return proc, outputs

        def check_finite(outputs: list[torch.Tensor]) -> None:
            for mel, audio in zip(batches, outputs):
                _check_audio(name, audio, mel, target.hop_length, check_values=True)

        # validation (= first warm-up) pass: output length and finiteness of every clip
        resolved_procedure, outputs = run_once()
        check_finite(outputs)
        resolved_procedure = resolved_procedure or target.procedure
        for _ in range(max(protocol.warmup - 1, 0)):
            check_finite(run_once()[1])
        synchronize(dev)

        monitor = _energy_monitor(
            dev,
            mode=energy_mode,
            hardware=hardware,
            utilisation=utilisation,
            cpu_cores_used=(torch.get_num_threads() if (cpu_cores_total and dev.type == "cpu") else None),
            cpu_cores_total=(cpu_cores_total if dev.type == "cpu" else None),
        )
        times = []
        monitor.begin()
        try:
            for _ in range(protocol.repeats):
                t0 = time.perf_counter()
                _, outputs = run_once()
                synchronize(dev)
                times.append(time.perf_counter() - t0)
                check_finite(outputs)  # every timed run, outside its timing
                outputs = None
                monitor.lap()
        except BaseException:
            with contextlib.suppress(Exception):
                monitor.end()
            raise
        energy = monitor.end(idle_window_s=protocol.idle_window_s)

    timing = compute_timing(times, audio_s_per_run, protocol.warmup)

    flops = None
    if with_flops:
        frames = protocol.n_frames(target.hop_length, protocol.flop_clip_s, target.sample_rate)
        mel1 = torch.randn(1, target.n_mels, frames, generator=torch.Generator().manual_seed(protocol.seed))
        mel1 = mel1.to(device=dev, dtype=dtype)
        with _threads(protocol.threads):
            flops = count_flops(lambda: target.run(mel1), audio_s=frames * target.hop_length / target.sample_rate)

    e_run = energy.energy_per_repeat_j
    env = _jsonable(environment if environment is not None else collect_environment(str(dev)).to_dict())
    keys = _cell_keys(dev, protocol, procedure, env, energy_mode=energy_mode, hardware=hardware,
                      utilisation=utilisation, cpu_cores_total=cpu_cores_total)
    record = BenchmarkRecord(
        model=name,
        size=size,
        device=str(dev),
        precision=protocol.precision,
        protocol_key=protocol.key(),
        repetition=repetition,
        **keys,
        status="ok",
        family=target.family,
        params=params,
        params_without_wn_gains=params_no_gain,
        gflops_per_audio_s=None if flops is None else flops.gflops_per_audio_s,
        flops_method=None if flops is None else flops.method,
        flops_by_operator={} if flops is None else flops.by_operator,
        sample_rate=target.sample_rate,
        hop_length=target.hop_length,
        audio_s_per_run=audio_s_per_run,
        time_median_s=timing.median_s,
        time_iqr_s=timing.iqr_s,
        rtf_median=timing.rtf_median,
        rtf_iqr=timing.rtf_iqr,
        rtf_min=timing.rtf_min,
        rtf_max=timing.rtf_max,
        times_s=timing.times_s,
        energy_j_per_run=e_run,
        e_gen_j_per_100_audio_s=e_run / audio_s_per_run * 100.0,
        e_gen_j_per_audio_s=e_run / audio_s_per_run,
        energy_method=energy.method,
        energy_domains=energy.domains,
        energy_tool=energy.tool,
        energy_device_model=energy.device_model,
        energy_duration_s=energy.duration_s,
        energy_repeats=energy.repeats,
        energy_by_repeat_j=energy.energy_by_repeat_j,
        energy_idle_power_w=energy.idle_power_w,
        energy_idle_duration_s=energy.idle_duration_s,
        energy_constants=dict(energy.constants),
        energy_corrections=energy.corrections,
        energy_notes=energy.notes,
        host_type=energy.host_type,
        procedure=_jsonable(resolved_procedure),
        protocol=protocol.to_dict(),
        environment=env,
        created_utc=_now(),
        wall_s=time.perf_counter() - started,
        code_version=code_version(),
    )
    if store is not None:
        store.put(record)
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _cell_keys(dev: torch.device, protocol: Protocol, procedure: dict[str, Any] | None, env: dict[str, Any],
               **energy: Any) -> dict[str, str]:
    return {"procedure_key": procedure_key(procedure), "energy_key": energy_settings_key(dev, **energy),
            "env_key": environment_key(env, protocol.threads)}


def failed_record(
    *, name: str, size: str, device: str, protocol: Protocol, repetition: int, error: BaseException | str,
    environment: dict[str, Any] | None = None, wall_s: float | None = None, procedure: dict[str, Any] | None = None,
    energy_mode: str = "auto", hardware: str | None = None, utilisation: float = 1.0,
    cpu_cores_total: int | None = None,
) -> BenchmarkRecord:
    """The record of a cell that failed (``status="failed"``, ``error`` = exception type and message)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    env = _jsonable(environment or {})
    keys = _cell_keys(torch.device(device), protocol, procedure, env, energy_mode=energy_mode, hardware=hardware,
                      utilisation=utilisation, cpu_cores_total=cpu_cores_total)
    return BenchmarkRecord(
        model=name, size=size, device=str(device), precision=protocol.precision, protocol_key=protocol.key(),
        repetition=repetition, **keys, status="failed", error=message, protocol=protocol.to_dict(),
        environment=env, created_utc=_now(), wall_s=wall_s, code_version=code_version(),
    )


@dataclass(frozen=True)
class GridResult:
    """What :func:`run_grid` did.

    Attributes:
        computed: keys of the cells measured in this call (ok or failed).
        skipped: keys already in the store, not recomputed.
        failed: keys of this call's cells that failed.
        records: the records of every requested cell, read back from the store.
    """

    computed: tuple[tuple, ...]
    skipped: tuple[tuple, ...]
    failed: tuple[tuple, ...]
    records: tuple[BenchmarkRecord, ...]


def plan_grid(
    models: Iterable[str] | None = None,
    sizes: Iterable[str] = ("small", "medium", "large"),
    *,
    devices: Iterable[str] = ("cpu",),
    precisions: Iterable[str] | None = None,
    protocol: Protocol = THESIS_PROTOCOL,
    repetitions: int = 1,
    factory: Callable[[str, str], Any] | None = None,
    **benchmark_kwargs: Any,
) -> list[tuple[str, str, str, str, int]]:
    """Validate a grid's configuration and list its ``(model, size, device, precision, repetition)`` cells.

    Everything that would make *every* cell fail is rejected here, before any cell runs and before any store is
    opened: unknown models or sizes (with the valid lists), a size no requested model has, unknown devices or
    precisions, energy settings (mode, hardware, utilisation, cores), and a procedure a model does not accept.

    Raises:
        ValueError: the first configuration error, naming the bad value and the valid choices.
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a greenaudio.measure.Protocol, got {type(protocol).__name__}")
    _positive_int_arg("repetitions", repetitions)
    unknown_kwargs = sorted(set(benchmark_kwargs) - _GRID_BENCHMARK_KWARGS)
    if unknown_kwargs:
        raise ValueError(f"unknown benchmark argument(s) {unknown_kwargs}; valid: {sorted(_GRID_BENCHMARK_KWARGS)}")
    sizes = [sizes] if isinstance(sizes, str) else list(sizes)
    if not sizes:
        raise ValueError("sizes is empty; give at least one size")
    if factory is None:
        from greenaudio import vocoders

        valid = vocoders.names()
        models = [models] if isinstance(models, str) else (list(models) if models is not None else valid)
        if not models:
            raise ValueError(f"models is empty; valid models: {valid}")
        canonical = []
        for m in models:  # case-insensitive, as the registry: "HiFiGAN" is "hifigan" (cells and records say so)
            try:
                canonical.append(check_choice("model", m, valid))
            except ValueError:
                raise ValueError(f"unknown model {m!r}; valid models: {valid} (case-insensitive)") from None
        models = canonical
        for s in sizes:
            if not any(s in vocoders.sizes(m) for m in models):
                raise ValueError(f"unknown size {s!r} for model(s) {models}; valid sizes: "
                                 f"{sorted({x for m in models for x in vocoders.sizes(m)})}")
        cells_ms = [(m, s) for m in models for s in sizes if s in vocoders.sizes(m)]
    else:
        if models is None:
            raise ValueError("models must be given when a factory is")
        models = list(models)
        cells_ms = [(m, s) for m in models for s in sizes]
    devices = [str(check_device(d)) for d in ([devices] if isinstance(devices, str) else devices)]
    precisions = list(precisions) if precisions is not None else [protocol.precision]
    for p in precisions:
        torch_dtype(p)
    _fraction("utilisation", benchmark_kwargs.get("utilisation", 1.0))
    for d in devices:  # energy mode, hardware and core counts are checked by building the monitor
        cores_total = benchmark_kwargs.get("cpu_cores_total")
        EnergyMonitor(d, mode=benchmark_kwargs.get("energy_mode", "auto"), hardware=benchmark_kwargs.get("hardware"),
                      utilisation=benchmark_kwargs.get("utilisation", 1.0),
                      cpu_cores_used=1 if (cores_total and torch.device(d).type == "cpu") else None,
                      cpu_cores_total=cores_total if torch.device(d).type == "cpu" else None)
    procedure = benchmark_kwargs.get("procedure")
    if procedure:
        if not isinstance(procedure, dict):
            raise ValueError(f"procedure must be a dict of inference settings, got {procedure!r}")
        for m, s in cells_ms:
            model = (factory or _default_factory)(m, s)
            if not hasattr(model, "resolve_procedure"):
                raise ValueError(f"procedure={procedure!r} given, but model {m!r} ({type(model).__name__}) is not a "
                                 "greenaudio Vocoder; bind the settings into your callable instead")
            model.resolve_procedure(**procedure)
            del model
    return [(m, s, d, p, r) for (m, s), d, p, r in itertools.product(cells_ms, devices, precisions, range(repetitions))]


def _default_factory(name: str, size: str) -> Any:
    from greenaudio import vocoders

    return vocoders.load(name, size)


_GRID_BENCHMARK_KWARGS = frozenset({"hop_length", "sample_rate", "n_mels", "procedure", "prepare", "energy_mode",
                                    "hardware", "utilisation", "cpu_cores_total", "with_flops"})


def run_grid(
    models: Iterable[str] | None = None,
    sizes: Iterable[str] = ("small", "medium", "large"),
    *,
    store: ResultStore | str,
    devices: Iterable[str] = ("cpu",),
    precisions: Iterable[str] | None = None,
    protocol: Protocol = THESIS_PROTOCOL,
    repetitions: int = 1,
    factory: Callable[[str, str], Any] | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    **benchmark_kwargs: Any,
) -> GridResult:
    """Measure every cell of a grid that is not yet in ``store``.

    The configuration is validated first (:func:`plan_grid`): a configuration error raises ``ValueError`` before any
    cell runs and before the store file is created, and is never stored. A cell's key holds everything that changes
    its numbers (:data:`~greenaudio.measure.KEY_FIELDS`): another protocol, procedure, energy setting, machine, torch
    version or thread count is another cell. Each cell is written as soon as it finishes, in its own transaction, so
    an interrupted run resumes with only the missing cells; a cell whose model raises, returns the wrong length or
    NaN is stored as ``failed`` with its message, and the grid goes on. A failed cell is retried when
    ``retry_failed`` is set or when the code that computed it differs from the current code.

    Args:
        models: registry names (default: all six, in the thesis's order).
        sizes: presets; each must belong to at least one requested model (sizes a model lacks are skipped).
        store: a :class:`ResultStore` or the path of one.
        devices: ``"cpu"``, ``"cuda:0"``...
        precisions: default ``(protocol.precision,)``.
        protocol: the measurement protocol.
        repetitions: independent re-measurements of each cell (``repetition`` = 0 .. n-1).
        factory: ``factory(name, size) -> model``; default :func:`greenaudio.vocoders.load`.
        retry_failed: recompute every cell stored as failed (replacing its record).
        progress: show a tqdm progress bar.
        **benchmark_kwargs: passed to :func:`benchmark_model` (``energy_mode``, ``hardware``, ``procedure``...).

    Returns:
        :class:`GridResult`.

    Raises:
        ValueError: a configuration error (see :func:`plan_grid`).
    """
    from tqdm.auto import tqdm

    cells = plan_grid(models, sizes, devices=devices, precisions=precisions, protocol=protocol,
                      repetitions=repetitions, factory=factory, **benchmark_kwargs)
    factory = factory or _default_factory
    if isinstance(store, (str, bytes)) or hasattr(store, "__fspath__"):
        store = ResultStore(store)
    energy = {k: benchmark_kwargs[k] for k in ("energy_mode", "hardware", "utilisation", "cpu_cores_total")
              if k in benchmark_kwargs}
    version = code_version()
    envs: dict[str, dict[str, Any]] = {}
    computed, skipped, failed, keys = [], [], [], []
    bar = tqdm(cells, disable=not progress, desc="greenaudio bench", unit="cell")
    for m, s, d, p, r in bar:
        prot = protocol.replace(precision=p)
        env = envs.get(d)
        if env is None:
            env = envs[d] = _jsonable(collect_environment(d).to_dict())
        cell = _cell_keys(torch.device(d), prot, benchmark_kwargs.get("procedure"), env, **energy)
        key = (m, s, d, p, prot.key(), cell["procedure_key"], cell["energy_key"], cell["env_key"], r)
        keys.append(key)
        existing = store.get(key)
        if existing is not None and (existing.ok or (not retry_failed and existing.code_version == version)):
            skipped.append(key)
            continue
        bar.set_postfix_str(f"{m}/{s} {d} {p} rep {r}")
        t0 = time.perf_counter()
        try:
            model = factory(m, s)
            rec = benchmark_model(model, name=m, size=s, protocol=prot, device=d, repetition=r, environment=env,
                                  **benchmark_kwargs)
        except Exception as exc:  # recorded, the grid goes on (KeyboardInterrupt is not caught)
            rec = failed_record(name=m, size=s, device=d, protocol=prot, repetition=r, error=exc, environment=env,
                                wall_s=time.perf_counter() - t0, procedure=benchmark_kwargs.get("procedure"),
                                **energy)
            failed.append(key)
        finally:
            model = None
        if rec.key != key:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"cell key mismatch: planned {key}, recorded {rec.key}")
        store.put(rec, replace=existing is not None)
        computed.append(key)
    bar.close()
    records = {rec.key: rec for rec in store.records()}
    return GridResult(
        computed=tuple(computed), skipped=tuple(skipped), failed=tuple(failed),
        records=tuple(records[k] for k in keys if k in records),
    )
