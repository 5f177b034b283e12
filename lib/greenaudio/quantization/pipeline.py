"""Post-training int8 quantisation of zoo configurations, measured: sizes, latency, energy and output change.

Used by: notebooks/06_quantization.ipynb (Table 9 regenerated), scripts/bench_quantization.py.

For one configuration, :func:`quantize_vocoder` splits the model into graphs, exports them to ONNX (fp32),
records calibration inputs from real mels and quantises every graph (:mod:`~greenaudio.quantization.calibrate`).
:func:`measure_configuration` then times the torch fp32 model, the ONNX Runtime fp32 graphs and the int8 graphs on the
same mel, with the same noise seed, estimates or measures the energy of the int8 runs with
:class:`greenaudio.measure.EnergyMonitor` (its method label is carried by every row), and compares the int8 output
with the torch fp32 output. :func:`run_quantization_table` does this for many configurations; a configuration that
fails anywhere is kept as a row whose ``status`` is ``"failed: <reason>"``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from greenaudio import vocoders
from greenaudio.shipped import check_listed_file, default_zoo_dir, load_manifest, load_weights
from greenaudio.validation import check_choice, check_int, check_positive_int
from greenaudio.vocoders.base import Vocoder, count_parameters
from greenaudio.vocoders.graphs import VocoderGraphs, split_vocoder
from greenaudio.vocoders.onnx import EXPORTERS, OnnxVocoder, export_graph, graph_files

from .calibrate import check_calibration_mels, quantize_graph, record_graph_inputs
from .compare import compute_output_change
from .sizes import BYTES_PER_MB, SIZE_METHOD, measure_files_bytes

__all__ = [
    "QuantizedVocoder",
    "quantize_vocoder",
    "measure_configuration",
    "run_quantization_table",
    "make_eval_clip",
    "find_trained_weights",
    "TABLE_COLUMNS",
]

#: Columns of the table :func:`run_quantization_table` returns (one row per configuration, failed ones included).
TABLE_COLUMNS = (
    "model", "size", "status", "weights", "params", "gflops_per_audio_s", "graphs", "fp32_bytes", "int8_bytes",
    "fp32_mb", "int8_mb",
    "size_ratio", "audio_s", "torch_fp32_s", "ort_fp32_s", "ort_int8_s", "rtf_torch_fp32", "rtf_ort_fp32",
    "rtf_int8", "speedup_vs_torch_fp32", "speedup_vs_ort_fp32", "export_rel_l2", "int8_rel_l2", "int8_snr_db",
    "int8_d_stft", "energy_int8_j_per_100_audio_s", "energy_torch_fp32_j_per_100_audio_s", "energy_method",
    "energy_constants", "energy_notes", "size_method", "timing", "threads", "exporter", "procedure", "cpu",
    "versions", "export_s", "quantize_s", "calibration_mels", "seed", "load_1min_start", "load_1min_end", "cpu_isa",
)


@dataclass
class QuantizedVocoder:
    """A configuration exported (fp32) and quantised (int8) through ONNX Runtime.

    Attributes:
        graphs: the split torch model (procedure and reference).
        fp32_paths, int8_paths: graph name -> ``.onnx`` file.
        fp32_files, int8_files: every file the fp32 / int8 model consists of (side files included).
        exporter: the ``torch.onnx`` exporter used.
        export_s, quantize_s: wall time of export and of calibration + quantisation (in s).
    """

    graphs: VocoderGraphs
    fp32_paths: dict[str, Path]
    int8_paths: dict[str, Path]
    fp32_files: list[Path]
    int8_files: list[Path]
    exporter: str
    export_s: float
    quantize_s: float

    @property
    def fp32_bytes(self) -> int:
        """Serialised fp32 size (in bytes), measured from the files."""
        return measure_files_bytes(self.fp32_files)

    @property
    def int8_bytes(self) -> int:
        """Serialised int8 size (in bytes), measured from the files."""
        return measure_files_bytes(self.int8_files)

    def runner(self, precision: str = "int8", threads: int = 1) -> OnnxVocoder:
        """An :class:`OnnxVocoder` over the fp32 or int8 graphs."""
        paths = self.int8_paths if precision == "int8" else self.fp32_paths
        return OnnxVocoder(self.graphs, paths, precision, threads)


def quantize_vocoder(model: Vocoder, workdir: str | Path, calibration_mels: Any, *, exporter: str = "torchscript",
                     seed: int = 0, max_calibration_per_graph: int = 48, threads: int = 1,
                     **procedure: Any) -> QuantizedVocoder:
    """Export a vocoder's graphs to ONNX (fp32) and quantise them to int8 (static, QDQ, per-channel weights).

    The files go to ``workdir/fp32/`` and ``workdir/int8/``. ``workdir`` must be a new folder, an empty one, or one
    this function made before (it holds the :data:`WORKDIR_MARKER` file): no file the package did not write is ever
    deleted or overwritten. In a folder it made before, only its ``fp32/`` and ``int8/`` sub-folders are replaced.

    Args:
        model: a zoo vocoder (trained or not); ``prepare_for_inference()`` is applied (weight norm removed).
        workdir: folder for the ``fp32/`` and ``int8/`` files (see above; created if missing).
        calibration_mels: real mels, float32 ``(N, n_mels, frames)`` or a list of ``(n_mels, frames)``; checked
            before any work (:func:`~greenaudio.quantization.calibrate.check_calibration_mels`).
        exporter: ``"torchscript"`` or ``"dynamo"``.
        seed: noise seed of the calibration runs.
        max_calibration_per_graph: cap on the recorded input sets per graph.
        threads: torch threads while recording calibration inputs (restored afterwards).
        **procedure: the model's inference procedure (``schedule``, ``sigma`` ...); defaults as ``generate``.

    Raises:
        ValueError: bad arguments or calibration data, or a ``workdir`` that is not empty and was not made by this
            function (named; nothing is deleted); all checked before any file is written.
        ImportError: ``onnx`` or ``onnxruntime`` cannot be imported (before any file is written).
        RuntimeError: export failed (names the graph).
    """
    exporter = check_choice("exporter", exporter, EXPORTERS, case_sensitive=True)
    seed = check_int("seed", seed)
    max_calibration_per_graph = check_positive_int("max_calibration_per_graph", max_calibration_per_graph)
    threads = check_positive_int("threads", threads)
    mels = check_calibration_mels(calibration_mels, model.n_mels)
    require_onnx_runtime()
    workdir = Path(workdir)
    check_workdir(workdir)
    graphs = split_vocoder(model, **procedure)  # checks the procedure; changes the model, never a file
    claim_workdir(workdir)  # the first change on disk
    started = time.perf_counter()
    exported = {g.name: export_graph(g, workdir / "fp32" / f"{g.name}.onnx", exporter) for g in graphs.graphs}
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        feeds = record_graph_inputs(graphs, mels, seed=seed, max_per_graph=max_calibration_per_graph)
    finally:
        torch.set_num_threads(previous_threads)
    int8_paths = {}
    for name, e in exported.items():
        try:
            int8_paths[name] = quantize_graph(e.path, workdir / "int8" / f"{name}.onnx", feeds[name])
        except Exception as exc:  # noqa: BLE001
            raise RuntimeError(f"quantisation of graph {name!r} failed: {type(exc).__name__}: {exc}") from exc
    quantize_s = time.perf_counter() - started
    return QuantizedVocoder(
        graphs=graphs,
        fp32_paths={k: e.path for k, e in exported.items()},
        int8_paths=int8_paths,
        fp32_files=[f for e in exported.values() for f in e.files],
        int8_files=[f for p in int8_paths.values() for f in graph_files(p)],
        exporter=exporter,
        export_s=export_s,
        quantize_s=quantize_s,
    )


#: The file that marks a folder as made by :func:`quantize_vocoder` (so its ``fp32/`` and ``int8/`` may be replaced).
WORKDIR_MARKER = ".greenaudio-quantization"
_OWNED_SUBFOLDERS = ("fp32", "int8")


def require_onnx_runtime() -> None:
    """Import ``onnx``, ``onnxruntime`` and ``onnxruntime.quantization``, or raise naming what is missing.

    Raises:
        ImportError: naming each module that cannot be imported and how to install it.
    """
    missing = []
    for module in ("onnx", "onnxruntime", "onnxruntime.quantization"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module} ({type(exc).__name__}: {exc})")
    if missing:
        raise ImportError(f"int8 quantisation needs {'; '.join(missing)}: pip install onnx onnxruntime "
                          "(or the 'metrics' extra with onnx); nothing was written")


def check_workdir(workdir: str | Path) -> Path:
    """Check that :func:`quantize_vocoder` may write into ``workdir``, without changing anything on disk.

    Allowed: a missing folder, an empty folder, or a folder holding :data:`WORKDIR_MARKER` (made by
    :func:`quantize_vocoder`) whose ``fp32``/``int8`` entries are real folders.

    Raises:
        ValueError: naming the folder (or the entry) and why it is refused.
    """
    workdir = Path(workdir)
    if not workdir.exists() and not workdir.is_symlink():
        return workdir
    if not workdir.is_dir():
        raise ValueError(f"workdir={str(workdir)!r} exists and is not a folder; give a new or empty folder")
    if (workdir / WORKDIR_MARKER).is_file():
        for name in _OWNED_SUBFOLDERS:
            sub = workdir / name
            if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
                raise ValueError(f"workdir={str(workdir)!r}: {str(sub)!r} is not a folder made by quantize_vocoder "
                                 "(a link or a file); nothing was deleted: move it away or give another folder")
        return workdir
    with os.scandir(workdir) as entries:
        first = next(iter(entries), None)
    if first is not None:
        raise ValueError(f"workdir={str(workdir)!r} is not empty and was not made by quantize_vocoder (it has no "
                         f"{WORKDIR_MARKER} file; it holds e.g. {first.name!r}); nothing was deleted: give a new or "
                         "empty folder")
    return workdir


def claim_workdir(workdir: str | Path) -> Path:
    """Make ``workdir`` ready (after :func:`check_workdir`): create it with its marker, or, in a folder made by
    :func:`quantize_vocoder` earlier, remove only its ``fp32/`` and ``int8/`` sub-folders."""
    workdir = check_workdir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / WORKDIR_MARKER
    if marker.is_file():
        for name in _OWNED_SUBFOLDERS:
            if (workdir / name).is_dir():
                shutil.rmtree(workdir / name)
    else:
        marker.write_text("Made by greenaudio.quantization.quantize_vocoder: its fp32/ and int8/ sub-folders are "
                          "replaced on each call into this folder; nothing else in it is touched.\n")
    return workdir


def make_eval_clip(items: Sequence[tuple[Any, Any]], seconds: float, hop_length: int = 256,
                   sample_rate: int = 16_000) -> tuple[torch.Tensor, torch.Tensor]:
    """A clip of about ``seconds`` of real speech: consecutive ``(audio, mel)`` items joined, then cropped.

    Args:
        items: ``(audio (N,), mel (n_mels, F))`` pairs with ``N = F * hop_length`` (a corpus split).
        seconds: wanted duration (in s of audio); rounded to whole mel frames.

    Returns:
        ``(audio (1, F * hop), mel (1, n_mels, F))`` float32 tensors.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    frames = max(1, int(round(seconds * sample_rate / hop_length)))
    audios, mels, have = [], [], 0
    for audio, mel in items:
        audios.append(torch.as_tensor(np.asarray(audio), dtype=torch.float32).reshape(-1))
        mels.append(torch.as_tensor(np.asarray(mel), dtype=torch.float32))
        have += mels[-1].shape[-1]
        if have >= frames:
            break
    if have < frames:
        raise ValueError(f"the items hold {have} frames, fewer than the {frames} needed for {seconds} s")
    mel = torch.cat(mels, -1)[:, :frames]
    audio = torch.cat(audios)[: frames * hop_length]
    return audio[None], mel[None]


def find_trained_weights(name: str, size: str, root: str | Path | None = None) -> Path | None:
    """The trained checkpoint of a configuration in the zoo's ``manifest.csv``, or ``None`` if there is none.

    Args:
        root: folder with ``manifest.csv`` (default ``greenaudio/resources/zoo/mini``).
    """
    root = Path(root) if root is not None else default_zoo_dir() / "mini"
    table = load_manifest(root)
    rows = table[(table["config"] == f"{name}-{size}") & (table["kind"] == "weights")]
    if rows.empty:
        return None
    return check_listed_file(root, rows.iloc[0])  # sha256 checked against the manifest


def _load_model(name: str, size: str, weights: Path | None, seed: int = 0) -> Vocoder:
    """The configuration with ``weights`` loaded (the zoo's ``weights.safetensors``, or a torch checkpoint), or freshly
    initialised from ``seed`` (so a fresh model's row, its output change included, is the same on every run; the
    caller's random state is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = vocoders.load(name, size)
    if weights is not None and Path(weights).suffix == ".safetensors":
        model.load_state_dict(load_weights(weights))
    elif weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict", "generator"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
                break
        model.load_state_dict(state)
    return model


def _timed_interleaved(fns: Mapping[str, Callable[[], Any]], repeats: int, warmup: int,
                       monitors: Mapping[str, Any]) -> dict[str, tuple[list[float], Any, Any]]:
    """Time several runtimes on one input, interleaved: ``warmup`` untimed calls of each, then ``repeats`` rounds
    in which each runs once (the order rotating every round), so a slow spell of the machine falls on all of them.

    Returns:
        name -> (wall times in s, merged :class:`~greenaudio.measure.EnergyMeasurement` of its runs or ``None``
        where it has no monitor, its last output).
    """
    from greenaudio.measure import merge_energy_windows

    names = list(fns)
    outputs = {name: None for name in names}
    for name in names:
        for _ in range(warmup):
            outputs[name] = fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    windows: dict[str, list] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            monitor = monitors.get(name)
            if monitor is not None:
                monitor.begin()
            t0 = time.perf_counter()
            outputs[name] = fns[name]()
            times[name].append(time.perf_counter() - t0)
            if monitor is not None:
                windows[name].append(monitor.end())
    return {name: (times[name], merge_energy_windows(windows[name]) if windows[name] else None, outputs[name])
            for name in names}


def _monitor(energy_mode: str, threads: int):
    from greenaudio import measure

    # CPU rule alone (no RAM term): the shipped int8 rows (ptq_cpu.csv) were estimated so, and a live row sits beside them
    return measure.EnergyMonitor("cpu", mode=energy_mode, cpu_cores_used=threads, cpu_cores_total=os.cpu_count() or 1,
                                 count_ram=False)


def _versions() -> str:
    import onnx
    import onnxruntime

    return f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}"


def measure_configuration(name: str, size: str, *, workdir: str | Path, calibration_mels: Any,
                          eval_mel: torch.Tensor, repeats: int = 3, warmup: int = 1, threads: int = 1,
                          exporter: str = "torchscript", energy_mode: str = "auto", seed: int = 0,
                          weights: Path | None = None, model: Vocoder | None = None,
                          keep: dict | None = None) -> dict[str, Any]:
    """Quantise one configuration and measure it (sizes, latency, energy, output change); see :data:`TABLE_COLUMNS`.

    Args:
        name, size: the configuration.
        workdir: folder for its ONNX files: new, empty, or made by :func:`quantize_vocoder` (see there).
        calibration_mels: real mels (float32 ``(N, n_mels, frames)``).
        eval_mel: ``(1, n_mels, F)`` mel the three runtimes are timed and compared on, or a list of such mels
            (one quantisation, one row per mel: e.g. 1 s and 10 s clips).
        repeats, warmup: timed and untimed runs per runtime (latency: median of the timed runs, in s).
        threads: torch and ONNX Runtime threads.
        exporter: see :func:`quantize_vocoder`.
        energy_mode: :class:`greenaudio.measure.EnergyMonitor` mode for the int8 and torch fp32 runs.
        seed: noise seed (the same for the three runtimes, so their outputs are comparable).
        weights: trained checkpoint to load (``None``: fresh initialisation from ``seed``, as the cost chapter).
        model: use this model instead of building ``name``/``size`` (tests, own models).
        keep: if given, receives ``{"quantized": QuantizedVocoder, "outputs": {...}}`` for later use.

    Returns:
        one row (dict), or a list of rows for a list of mels. Raises on failure: :func:`run_quantization_table`
        turns exceptions into failed rows.
    """
    threads = check_positive_int("threads", threads)
    check_workdir(workdir)  # before a model is built: a folder of the caller's is refused at once
    model = model if model is not None else _load_model(name, size, weights, seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        q = quantize_vocoder(model, workdir, calibration_mels, exporter=exporter, seed=seed, threads=threads)
        fp32, int8 = q.runner("fp32", threads), q.runner("int8", threads)
        clips = list(eval_mel) if isinstance(eval_mel, (list, tuple)) else [eval_mel]
        rows = [_measure_clip(name, size, model, q, fp32, int8, mel, repeats=repeats, warmup=warmup, threads=threads,
                              energy_mode=energy_mode, seed=seed, weights=weights, keep=keep, exporter=exporter)
                | {"calibration_mels": len(calibration_mels), "seed": seed}
                for mel in clips]
    finally:
        torch.set_num_threads(previous_threads)
    return rows if isinstance(eval_mel, (list, tuple)) else rows[0]


def _measure_clip(name, size, model, q, fp32, int8, eval_mel, *, repeats, warmup, threads, energy_mode, seed, weights,
                  keep, exporter) -> dict[str, Any]:
    audio_s = eval_mel.shape[-1] * model.hop_length / model.sample_rate
    load_start = load_average_1min()
    gen = lambda: torch.Generator().manual_seed(seed)  # noqa: E731
    torch_fn = lambda: model.generate(eval_mel, generator=gen(), **q.graphs.procedure_args).audio  # noqa: E731
    timed = _timed_interleaved(
        {"torch": torch_fn, "ort_fp32": lambda: fp32.generate(eval_mel, generator=gen()).audio,
         "ort_int8": lambda: int8.generate(eval_mel, generator=gen()).audio}, repeats, warmup,
        {"torch": _monitor(energy_mode, threads), "ort_int8": _monitor(energy_mode, threads)})
    (t_torch, e_torch, out_torch), (t_ort, _, out_ort), (t_int8, e_int8, out_int8) = (
        timed["torch"], timed["ort_fp32"], timed["ort_int8"])
    from greenaudio.measure import count_flops

    flop_mel = eval_mel[..., : max(1, min(eval_mel.shape[-1], 16))]  # cost is linear in length: 16 frames suffice
    gflops = count_flops(lambda: model.generate(flop_mel, generator=gen(), **q.graphs.procedure_args),
                         audio_s=flop_mel.shape[-1] * model.hop_length / model.sample_rate).gflops_per_audio_s
    change = compute_output_change(out_torch, out_int8)
    export = compute_output_change(out_torch, out_ort)
    med = lambda t: float(np.median(t))  # noqa: E731
    if keep is not None:
        keep.update({"quantized": q, "outputs": {"torch_fp32": out_torch, "ort_fp32": out_ort, "ort_int8": out_int8}})
    fp32_bytes, int8_bytes = q.fp32_bytes, q.int8_bytes
    return {
        "model": name, "size": size, "status": "ok",
        "weights": f"trained: {weights.name}" if weights is not None else "fresh initialisation",
        "params": count_parameters(model), "gflops_per_audio_s": gflops, "graphs": len(q.graphs.graphs),
        "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes,
        "fp32_mb": fp32_bytes / BYTES_PER_MB, "int8_mb": int8_bytes / BYTES_PER_MB,
        "size_ratio": fp32_bytes / int8_bytes, "audio_s": audio_s,
        "torch_fp32_s": med(t_torch), "ort_fp32_s": med(t_ort), "ort_int8_s": med(t_int8),
        "rtf_torch_fp32": med(t_torch) / audio_s, "rtf_ort_fp32": med(t_ort) / audio_s,
        "rtf_int8": med(t_int8) / audio_s,
        "speedup_vs_torch_fp32": med(t_torch) / med(t_int8), "speedup_vs_ort_fp32": med(t_ort) / med(t_int8),
        "export_rel_l2": export["rel_l2"], "int8_rel_l2": change["rel_l2"], "int8_snr_db": change["snr_db"],
        "int8_d_stft": change["d_stft"],
        "energy_int8_j_per_100_audio_s": e_int8.energy_per_repeat_j / audio_s * 100,
        "energy_torch_fp32_j_per_100_audio_s": e_torch.energy_per_repeat_j / audio_s * 100,
        "energy_method": e_int8.method, "energy_constants": json.dumps(e_int8.constants, sort_keys=True, default=str),
        "energy_notes": "; ".join(e_int8.notes), "size_method": SIZE_METHOD,
        "timing": timing_label(repeats, warmup),
        "threads": threads, "exporter": exporter, "procedure": json.dumps(q.graphs.procedure_args, default=str),
        "cpu": _cpu_model(), "versions": _versions(), "export_s": q.export_s, "quantize_s": q.quantize_s,
        "load_1min_start": load_start, "load_1min_end": load_average_1min(), "cpu_isa": _cpu_isa(),
    }


def timing_label(repeats: int, warmup: int) -> str:
    """How a row's latencies were taken (its ``timing`` column)."""
    return (f"median of {repeats} run(s) after {warmup} warm-up(s), perf_counter, torch fp32 / ORT fp32 / ORT int8 "
            "interleaved")


def load_average_1min() -> float | None:
    """The machine's 1-minute load average now (how busy it was around a timing; ``None`` where unavailable)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # pragma: no cover - not on Linux/macOS
        return None


def _cpu_model() -> str:
    try:
        from greenaudio.host import read_cpu_model

        return read_cpu_model()
    except Exception:  # noqa: BLE001
        return platform.processor() or "unknown"


def _cpu_isa() -> str:
    from greenaudio.host import read_cpu_isa

    return read_cpu_isa()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def run_quantization_table(configs: Iterable[tuple[str, str]], *, workdir: str | Path, calibration_mels: Any,
                           eval_mel: torch.Tensor, models: dict[tuple[str, str], Vocoder] | None = None,
                           use_trained: bool = True, keep: dict | None = None, progress: bool = False,
                           **kwargs: Any) -> pd.DataFrame:
    """:func:`measure_configuration` for many configurations; failures become ``"failed: <reason>"`` rows.

    Args:
        configs: ``(model, size)`` pairs, e.g. ``vocoders.iter_presets()``.
        workdir: parent folder (one sub-folder ``<model>-<size>`` per configuration, which must be new, empty, or
            made by :func:`quantize_vocoder`; a sub-folder of the caller's makes that configuration a failed row).
        calibration_mels, eval_mel: as :func:`measure_configuration` (checked once, before any configuration); a
            list of mels gives one row per configuration and mel, from one quantisation.
        models: optional ready models by ``(model, size)`` (else built from the registry).
        use_trained: load the zoo's trained weights where :func:`find_trained_weights` finds them.
        keep: if given, filled with ``{(model, size): {...}}`` (see :func:`measure_configuration`).
        progress: print one line per configuration.
        **kwargs: passed to :func:`measure_configuration` (repeats, warmup, threads, exporter, energy_mode, seed).

    Returns:
        DataFrame with :data:`TABLE_COLUMNS`, one row per configuration in the given order.
    """
    first = eval_mel[0] if isinstance(eval_mel, (list, tuple)) else eval_mel
    check_calibration_mels(calibration_mels, first.shape[1])
    rows = []
    for name, size in configs:
        started = time.perf_counter()
        slot = {} if keep is not None else None
        weights = find_trained_weights(name, size) if use_trained else None
        clips = list(eval_mel) if isinstance(eval_mel, (list, tuple)) else [eval_mel]
        try:
            new = measure_configuration(name, size, workdir=Path(workdir) / f"{name}-{size}",
                                        calibration_mels=calibration_mels, eval_mel=clips, weights=weights,
                                        model=(models or {}).get((name, size)), keep=slot, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a failed configuration is a row, never dropped
            new = [{"model": name, "size": size, "status": f"failed: {_reason(exc)}",
                    "weights": f"trained: {weights.name}" if weights is not None else "fresh initialisation",
                    "audio_s": mel.shape[-1] * 256 / 16000} for mel in clips]
        if keep is not None and slot:
            keep[(name, size)] = slot
        rows.extend(new)
        if progress:
            print(f"{name} {size}: {new[0]['status']} ({time.perf_counter() - started:.1f} s)", flush=True)
    return pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
