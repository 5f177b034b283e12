"""Benchmark a vocoder (any vocoder) under a protocol: one cell of the cost grid.

Used by: ``greenaudio bench`` and the grids of :mod:`greenaudio.orchestration` (which run many cells and store them),
notebooks/05_1_cost_benchmark.ipynb (bring your own model), :mod:`greenaudio.chapters.waveflow`.

:func:`benchmark_model` takes a greenaudio :class:`~greenaudio.vocoders.Vocoder`, any ``nn.Module`` or a plain
callable mapping a mel ``(B, 80, frames)`` to a waveform ``(B, frames * hop_length)`` and measures, in one cell:
parameters (both conventions), GFLOPs per second of audio (whole procedure), the real-time factor (warm-up, repeats,
CUDA synchronisation, median and spread) and the energy of the protocol (measured or estimated, with provenance).
:func:`cell_key` and :func:`failed_record` key and record a cell the way the grids store it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .energy import EnergyMeasurement, EnergyMonitor
from ..host import collect_environment, read_git_commit
from .flops import FlopCount, count_flops
from .protocol import THESIS_PROTOCOL, Protocol, torch_dtype
from .records import BenchmarkRecord
from .timing import compute_timing, synchronize
from ..validation import check_non_negative_int, check_positive_int

__all__ = ["benchmark_model", "check_device", "failed_record", "cell_key", "environment_of", "code_version"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _energy_settings_key(device: str | torch.device, *, energy_mode: str = "auto", hardware: str | None = None,
                         utilisation: float = 1.0, cpu_cores_total: int | None = None) -> str:
    """Canonical JSON of every energy setting that changes a number: mode, power model, hardware, utilisation and
    cores. On a CPU without explicit hardware the power model is CodeCarbon's process rule (its version named)."""
    from .power_models import codecarbon_power_model_key

    if hardware is None and torch.device(device).type == "cpu":
        model = codecarbon_power_model_key()  # CPU and RAM rules: cells stored under the CPU rule alone are not reused
    else:
        model = "catalogue-power-x-time"
    settings: dict[str, Any] = {"mode": energy_mode, "power_model": model, "hardware": hardware}
    if model == "catalogue-power-x-time":
        settings |= {"utilisation": utilisation, "cpu_cores_total": cpu_cores_total}
    return _canonical(settings)


def _environment_key(environment: dict[str, Any], threads: int | None) -> str:
    """The environment fingerprint of a cell: machine, CPU model, GPU, torch version and threads (canonical JSON)."""
    return _canonical({
        "machine": environment.get("hostname"), "cpu_model": environment.get("cpu_model"),
        "gpu_model": environment.get("gpu_model"), "torch": (environment.get("packages") or {}).get("torch"),
        "threads": threads if threads is not None else environment.get("torch_threads"),
    })


def _key_fields(device: str | torch.device, protocol: Protocol, procedure: dict[str, Any] | None,
                environment: dict[str, Any], **energy: Any) -> dict[str, str]:
    return {"procedure_key": _canonical(_jsonable(dict(procedure or {}))),
            "energy_key": _energy_settings_key(device, **energy),
            "env_key": _environment_key(environment, protocol.threads)}


def cell_key(name: str, size: str, device: str, protocol: Protocol, repetition: int, *, environment: dict[str, Any],
             procedure: dict[str, Any] | None = None, **energy: Any) -> tuple:
    """The key a cell's record will have (:data:`~greenaudio.measure.KEY_FIELDS`): everything that changes its
    numbers, the machine (``environment``, :func:`environment_of`) and the energy settings (``energy_mode``,
    ``hardware``, ``utilisation``, ``cpu_cores_total``) included."""
    keys = _key_fields(device, protocol, procedure, environment, **energy)
    return (name, size, device, protocol.precision, protocol.key(), keys["procedure_key"], keys["energy_key"],
            keys["env_key"], repetition)


def environment_of(device: str | torch.device) -> dict[str, Any]:
    """This machine's :func:`greenaudio.host.collect_environment` for ``device``, as stored in a record."""
    return _jsonable(collect_environment(str(device)).to_dict())


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


def _mel_batches(protocol: Protocol, hop_length: int, n_mels: int, sample_rate: int, *, device: torch.device,
                 dtype: torch.dtype) -> list[torch.Tensor]:
    """The protocol's conditioning: ``n_clips`` random N(0, 1) mels from ``protocol.seed``, in batches of
    ``batch_size`` (the cost of these models does not depend on the mel's content)."""
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


def benchmark_model(model: Any, *, name: str, size: str = "custom", protocol: Protocol = THESIS_PROTOCOL,
                    device: str | torch.device = "cpu", hop_length: int | None = None, sample_rate: int | None = None,
                    n_mels: int | None = None, procedure: dict[str, Any] | None = None, prepare: bool = True,
                    repetition: int = 0, energy_mode: str = "auto", hardware: str | None = None,
                    utilisation: float = 1.0, cpu_cores_total: int | None = None, with_flops: bool = True,
                    environment: dict[str, Any] | None = None) -> BenchmarkRecord:
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
        environment: precomputed :func:`environment_of` dict (grids pass it once); collected if ``None``.

    Returns:
        the :class:`BenchmarkRecord` (``status="ok"``).

    Raises:
        ValueError: bad device, protocol or model (wrong output length, NaN or inf output in any run, missing
            hop_length, ...).
    """
    from greenaudio.vocoders.base import count_parameters

    started = time.perf_counter()
    repetition, dev, dtype = _check_cell(name, protocol, repetition, device)
    params = params_no_gain = None
    if isinstance(model, nn.Module):
        params = count_parameters(model, weight_norm_gains=True)
        params_no_gain = count_parameters(model, weight_norm_gains=False)
    target = _as_target(model, hop_length=hop_length, sample_rate=sample_rate, n_mels=n_mels, procedure=procedure,
                        seed=protocol.seed, prepare=prepare)
    if target.module is not None:
        target.module.to(device=dev, dtype=dtype)
    energy_settings = dict(energy_mode=energy_mode, hardware=hardware, utilisation=utilisation,
                           cpu_cores_total=cpu_cores_total)
    run = _timed_runs(target, name, protocol, dev, dtype, energy_settings)
    flops = _count_target_flops(target, protocol, dev, dtype) if with_flops else None
    env = _jsonable(environment) if environment is not None else environment_of(dev)
    key = cell_key(name, size, str(dev), protocol, repetition, environment=env, procedure=procedure, **energy_settings)
    return BenchmarkRecord(
        *key[:5], repetition=repetition, **dict(zip(("procedure_key", "energy_key", "env_key"), key[5:8])),
        status="ok", family=target.family, params=params, params_without_wn_gains=params_no_gain,
        gflops_per_audio_s=None if flops is None else flops.gflops_per_audio_s,
        flops_method=None if flops is None else flops.method, flops_by_operator={} if flops is None else flops.by_operator,
        sample_rate=target.sample_rate, hop_length=target.hop_length, **_run_fields(run, protocol),
        procedure=_jsonable(run.procedure), protocol=protocol.to_dict(), environment=env, created_utc=_now(),
        wall_s=time.perf_counter() - started, code_version=code_version(),
    )


def _check_cell(name: Any, protocol: Any, repetition: Any, device: Any) -> tuple[int, torch.device, torch.dtype]:
    """The validated repetition (a plain int), device and dtype of one cell."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a greenaudio.measure.Protocol, got {type(protocol).__name__}")
    try:
        repetition = check_non_negative_int("repetition", repetition)  # np.int64(0) -> 0, stored as a plain int
    except ValueError:
        raise ValueError(f"repetition must be an integer >= 0, got {repetition!r}") from None
    return repetition, check_device(device), torch_dtype(protocol.precision)


@dataclass
class _Runs:
    """What the timed runs of one cell measured."""

    audio_s_per_run: float
    procedure: dict[str, Any]
    times_s: list[float]
    energy: EnergyMeasurement


def _timed_runs(target: _Target, name: str, protocol: Protocol, dev: torch.device, dtype: torch.dtype,
                energy_settings: dict[str, Any]) -> _Runs:
    """The protocol's runs: a validation pass (every clip's length and finiteness), the warm-ups, then the timed
    repeats inside the energy monitor's window (each timed run's outputs checked outside its timing)."""
    with _threads(protocol.threads), torch.inference_mode():
        batches = _mel_batches(protocol, target.hop_length, target.n_mels, target.sample_rate, device=dev, dtype=dtype)
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

        resolved_procedure, outputs = run_once()  # validation (= first warm-up) pass
        check_finite(outputs)
        for _ in range(max(protocol.warmup - 1, 0)):
            check_finite(run_once()[1])
        synchronize(dev)
        cores = energy_settings["cpu_cores_total"] if dev.type == "cpu" else None
        monitor = EnergyMonitor(dev, mode=energy_settings["energy_mode"], hardware=energy_settings["hardware"],
                                utilisation=energy_settings["utilisation"], cpu_cores_total=cores,
                                cpu_cores_used=torch.get_num_threads() if cores else None)
        times = []
        monitor.begin()
        try:
            for _ in range(protocol.repeats):
                t0 = time.perf_counter()
                _, outputs = run_once()
                synchronize(dev)
                times.append(time.perf_counter() - t0)
                check_finite(outputs)
                outputs = None
                monitor.lap()
        except BaseException:
            with contextlib.suppress(Exception):
                monitor.end()
            raise
        energy = monitor.end(idle_window_s=protocol.idle_window_s)
    return _Runs(audio_s_per_run, resolved_procedure or target.procedure, times, energy)


def _count_target_flops(target: _Target, protocol: Protocol, dev: torch.device, dtype: torch.dtype) -> FlopCount:
    """FLOPs of the whole procedure on one clip of ``protocol.flop_clip_s``, per second of audio."""
    frames = protocol.n_frames(target.hop_length, protocol.flop_clip_s, target.sample_rate)
    mel = torch.randn(1, target.n_mels, frames, generator=torch.Generator().manual_seed(protocol.seed))
    mel = mel.to(device=dev, dtype=dtype)
    with _threads(protocol.threads):
        return count_flops(lambda: target.run(mel), audio_s=frames * target.hop_length / target.sample_rate)


#: Record fields copied from the energy measurement (record field -> attribute).
_ENERGY_FIELDS = {"energy_method": "method", "energy_domains": "domains", "energy_tool": "tool",
                  "energy_device_model": "device_model", "energy_duration_s": "duration_s",
                  "energy_repeats": "repeats", "energy_by_repeat_j": "energy_by_repeat_j",
                  "energy_idle_power_w": "idle_power_w", "energy_idle_duration_s": "idle_duration_s",
                  "energy_corrections": "corrections", "energy_notes": "notes", "host_type": "host_type"}


def _run_fields(run: _Runs, protocol: Protocol) -> dict[str, Any]:
    """The record's timing and energy fields."""
    timing = compute_timing(run.times_s, run.audio_s_per_run, protocol.warmup)
    e_run = run.energy.energy_per_repeat_j
    return {
        "audio_s_per_run": run.audio_s_per_run, "time_median_s": timing.median_s, "time_iqr_s": timing.iqr_s,
        "rtf_median": timing.rtf_median, "rtf_iqr": timing.rtf_iqr, "rtf_min": timing.rtf_min,
        "rtf_max": timing.rtf_max, "times_s": timing.times_s, "energy_j_per_run": e_run,
        "e_gen_j_per_100_audio_s": e_run / run.audio_s_per_run * 100.0,
        "e_gen_j_per_audio_s": e_run / run.audio_s_per_run,
        "energy_constants": dict(run.energy.constants),
        **{f: getattr(run.energy, a) for f, a in _ENERGY_FIELDS.items()},
    }


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
    environment: dict[str, Any] | None = None, wall_s: float | None = None, procedure: dict[str, Any] | None = None,
    energy_mode: str = "auto", hardware: str | None = None, utilisation: float = 1.0,
    cpu_cores_total: int | None = None,
) -> BenchmarkRecord:
    """The record of a cell that failed (``status="failed"``, ``error`` = exception type and message)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    env = _jsonable(environment or {})
    key = cell_key(name, size, str(device), protocol, repetition, environment=env, procedure=procedure,
                   energy_mode=energy_mode, hardware=hardware, utilisation=utilisation, cpu_cores_total=cpu_cores_total)
    return BenchmarkRecord(
        *key[:5], repetition=repetition, **dict(zip(("procedure_key", "energy_key", "env_key"), key[5:8])),
        status="failed", error=message, protocol=protocol.to_dict(), environment=env, created_utc=_now(),
        wall_s=wall_s, code_version=code_version(),
    )
