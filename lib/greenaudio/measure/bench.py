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
import datetime as _dt
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from .energy import EnergyMonitor
from .environment import collect_environment
from .flops import count_flops
from .protocol import THESIS_PROTOCOL, Protocol, torch_dtype
from .records import BenchmarkRecord
from .store import ResultStore
from .timing import compute_timing, synchronize

__all__ = ["benchmark_model", "run_grid", "GridResult", "check_device", "make_mel_batches", "failed_record"]


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
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


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
        if prepare:
            model = _rebuilt_copy(model).prepare_for_inference()
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
    _positive_int_arg("hop_length", hop_length)
    _positive_int_arg("sample_rate", sample_rate)
    n_mels = 80 if n_mels is None else _positive_int_arg("n_mels", n_mels)
    if procedure:
        raise ValueError("procedure= is only understood by greenaudio Vocoders; bind it into your callable instead")
    if isinstance(model, nn.Module):
        model.eval()

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
) -> BenchmarkRecord:
    """Measure one vocoder under ``protocol`` into a :class:`BenchmarkRecord`.

    Args:
        model: a greenaudio ``Vocoder`` (``generate`` is used, its resolved procedure recorded), an ``nn.Module``
            (``model(mel)``) or a callable ``mel (B, n_mels, frames) -> audio (B, frames * hop_length)``. It is
            moved to ``device`` and cast to ``protocol.precision`` if it is a module.
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
        utilisation: fraction of the device's maximum power assumed on the estimate path, in (0, 1].
        cpu_cores_total: cores of the CPU package; with the threads used, gives the share of a CPU's TDP charged.
        with_flops: count FLOPs (on one clip of ``protocol.flop_clip_s``).
        environment: precomputed :func:`collect_environment` dict (grids pass it once); collected if ``None``.
        store: if given, the record is also written there.

    Returns:
        the :class:`BenchmarkRecord` (``status="ok"``).

    Raises:
        ValueError: bad device, protocol or model (wrong output length, NaN output, missing hop_length, ...).
    """
    from greenaudio.vocoders.base import count_parameters

    started = time.perf_counter()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a greenaudio.measure.Protocol, got {type(protocol).__name__}")
    if isinstance(repetition, bool) or not isinstance(repetition, int) or repetition < 0:
        raise ValueError(f"repetition must be an integer >= 0, got {repetition!r}")
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

        def run_once(check_values: bool = False) -> dict[str, Any]:
            proc: dict[str, Any] = {}
            for mel in batches:
                audio, proc = target.run(mel)
                _check_audio(name, audio, mel, target.hop_length, check_values=check_values)
            return proc

        # validation (= first warm-up) pass: output length and finiteness of every clip
        resolved_procedure = run_once(check_values=True) or target.procedure
        for _ in range(max(protocol.warmup - 1, 0)):
            run_once()
        synchronize(dev)

        monitor = EnergyMonitor(
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
                run_once()
                synchronize(dev)
                times.append(time.perf_counter() - t0)
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
    record = BenchmarkRecord(
        model=name,
        size=size,
        device=str(dev),
        precision=protocol.precision,
        protocol_key=protocol.key(),
        repetition=repetition,
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


def failed_record(
    *, name: str, size: str, device: str, protocol: Protocol, repetition: int, error: BaseException | str,
    environment: dict[str, Any] | None = None, wall_s: float | None = None,
) -> BenchmarkRecord:
    """The record of a cell that failed (``status="failed"``, ``error`` = exception type and message)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return BenchmarkRecord(
        model=name, size=size, device=str(device), precision=protocol.precision, protocol_key=protocol.key(),
        repetition=repetition, status="failed", error=message, protocol=protocol.to_dict(),
        environment=_jsonable(environment or {}), created_utc=_now(), wall_s=wall_s,
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
    """Measure every (model, size, device, precision, repetition) cell not yet in ``store``.

    Each cell is written to the store as soon as it finishes, in its own transaction, so a run interrupted at any
    point (Ctrl-C, SIGKILL, power loss) resumes with only the missing cells; a cell whose model raises, returns the
    wrong length or NaN is recorded as ``failed`` with the message, and the grid goes on.

    Args:
        models: registry names (default: all six, in the thesis's order).
        sizes: presets (sizes a model lacks are skipped).
        store: a :class:`ResultStore` or the path of one.
        devices: ``"cpu"``, ``"cuda:0"``...
        precisions: default ``(protocol.precision,)``.
        protocol: the measurement protocol.
        repetitions: independent re-measurements of each cell (``repetition`` = 0 .. n-1).
        factory: ``factory(name, size) -> model``; default :func:`greenaudio.vocoders.load`.
        retry_failed: recompute cells stored as failed (replacing their record).
        progress: show a tqdm progress bar.
        **benchmark_kwargs: passed to :func:`benchmark_model` (``energy_mode``, ``hardware``, ``procedure``...).

    Returns:
        :class:`GridResult`.
    """
    from tqdm.auto import tqdm

    _positive_int_arg("repetitions", repetitions)
    if isinstance(store, (str, bytes)) or hasattr(store, "__fspath__"):
        store = ResultStore(store)
    if factory is None:
        from greenaudio import vocoders

        factory = vocoders.load
        models = list(models) if models is not None else vocoders.names()
        valid = vocoders.names()
        for m in models:
            if m not in valid:
                raise ValueError(f"unknown model {m!r}; valid models: {valid}")
        cells_ms = [(m, s) for m in models for s in sizes if s in vocoders.sizes(m)]
    else:
        if models is None:
            raise ValueError("models must be given when a factory is")
        cells_ms = [(m, s) for m in models for s in sizes]
    devices = [str(check_device(d)) for d in devices]
    precisions = list(precisions) if precisions is not None else [protocol.precision]
    for p in precisions:
        torch_dtype(p)
    protocols = {p: protocol.replace(precision=p) for p in precisions}

    cells = [
        (m, s, d, p, r)
        for (m, s), d, p, r in itertools.product(cells_ms, devices, precisions, range(repetitions))
    ]
    envs: dict[str, dict[str, Any]] = {}
    computed, skipped, failed, keys = [], [], [], []
    bar = tqdm(cells, disable=not progress, desc="greenaudio bench", unit="cell")
    for m, s, d, p, r in bar:
        prot = protocols[p]
        key = (m, s, d, p, prot.key(), r)
        keys.append(key)
        status = store.status_of(key)
        if status == "ok" or (status == "failed" and not retry_failed):
            skipped.append(key)
            continue
        bar.set_postfix_str(f"{m}/{s} {d} {p} rep {r}")
        env = envs.get(d)
        if env is None:
            env = envs[d] = collect_environment(d).to_dict()
        t0 = time.perf_counter()
        try:
            model = factory(m, s)
            rec = benchmark_model(model, name=m, size=s, protocol=prot, device=d, repetition=r, environment=env,
                                  **benchmark_kwargs)
        except Exception as exc:  # recorded, the grid goes on (KeyboardInterrupt is not caught)
            rec = failed_record(name=m, size=s, device=d, protocol=prot, repetition=r, error=exc, environment=env,
                                wall_s=time.perf_counter() - t0)
            failed.append(key)
        finally:
            model = None
        store.put(rec, replace=status == "failed")
        computed.append(key)
    bar.close()
    records = {rec.key: rec for rec in store.records()}
    return GridResult(
        computed=tuple(computed), skipped=tuple(skipped), failed=tuple(failed),
        records=tuple(records[k] for k in keys if k in records),
    )
