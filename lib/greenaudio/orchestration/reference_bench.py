"""Our inference paths timed against the public reference implementations, with the reference code fetched by the user.

``scripts/bench_inference.py --against-reference DIR`` builds, for each configuration, the reference generator from
the code the user cloned under ``DIR`` (nothing of it is copied into greenaudio: it is imported from that folder at
run time), copies our weights into it convolution by convolution (weight norm folded on both sides), checks that both
give the same output on the same mel, and times the reference, our plain path and our prepared paths interleaved in
one process. Only families whose reference generator is a pure function of the mel have an adapter (the GANs:
HiFi-GAN, MelGAN); the diffusion and flow references draw their noise inside, from the global generator, so their
outputs cannot be held equal to ours and they are left out (:data:`REFERENCES` lists what exists).

The reference code is imported and run: point ``DIR`` only at clones you trust, as you would before running them.

Used by: scripts/bench_inference.py (``--against-reference``), tests/test_reference_bench.py (with a stand-in reference
written by the test).
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Callable

import pandas as pd
import torch
from torch import nn

from ..host import read_git_commit
from ..vocoders.base import remove_all_weight_norms

__all__ = ["ReferenceImplementation", "REFERENCES", "check_reference_root", "build_reference", "compare_with_reference",
           "COLUMNS", "row_key"]

COLUMNS = ["model", "size", "duration_s", "path", "time_median_s", "time_min_s", "speedup_vs_reference",
           "speedup_vs_plain", "output_rel_l2_vs_reference", "repeats", "threads", "weights", "mel", "reference",
           "reference_commit", "device", "torch_version", "onnxruntime_version", "date_utc", "command"]


def row_key(row) -> tuple:
    """A row's key in a comparison file: model, size, seconds of audio (to 1 ms) and path."""
    return row["model"], row["size"], f"{float(row['duration_s']):.3f}", row["path"]


#: Largest relative L2 difference between our plain output and the reference's that counts as the same model (fp32).
SAME_OUTPUT_REL_L2 = 1e-3


@dataclass(frozen=True)
class ReferenceImplementation:
    """Where a family's reference lives and how to build its generator for one of our configurations.

    ``folder`` is the checkout's name under the folder given on the command line; ``files`` the files of it that are
    imported (checked before any work); ``build(folder, model)`` returns the reference generator, weight norm
    removed, our weights copied in, in eval mode: a module mapping ``mel (B, n_mels, F)`` to ``audio (B, 1, T)``.
    """

    model: str
    repository: str
    folder: str
    files: tuple[str, ...]
    build: Callable[[Path, nn.Module], nn.Module]
    how_it_runs: str


def _import_from(folder: Path, module: str) -> ModuleType:
    """``module`` imported from ``folder`` alone: top-level names the folder defines (``models``, ``utils``, ...) are
    lifted out of ``sys.modules`` for the import and put back afterwards, so two references (or our own modules)
    with the same names never see each other's."""
    own = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
    clashing = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in own}
    sys.path.insert(0, str(folder))
    try:
        imported = importlib.import_module(module)
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k.split(".")[0] in own]:
            del sys.modules[k]
        sys.modules.update(clashing)
    return imported


def _convolutions(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]


def _kind(conv: nn.Module) -> type:
    """``nn.ConvTranspose1d`` or ``nn.Conv1d`` (a parametrised module's class is a subclass made at run time)."""
    return nn.ConvTranspose1d if isinstance(conv, nn.ConvTranspose1d) else nn.Conv1d


def copy_convolutions(source: nn.Module, target: nn.Module) -> int:
    """Copy the (weight-norm folded) weights and biases of ``source``'s convolutions into ``target``'s, pairing them
    in module order; returns how many. Raises ``ValueError`` naming the first pair that differs in kind, shape,
    stride, padding or dilation: then the two are not the same network."""
    ours, theirs = _convolutions(source), _convolutions(target)
    if len(ours) != len(theirs):
        raise ValueError(f"the reference has {len(theirs)} convolutions, ours {len(ours)}: not the same network")
    attributes = ("stride", "padding", "dilation", "groups", "output_padding")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if _kind(a) is not _kind(b) or a.weight.shape != b.weight.shape or any(
                getattr(a, k, None) != getattr(b, k, None) for k in attributes):
            raise ValueError(f"convolution {i} differs: ours {a}, the reference's {b}")
        with torch.no_grad():
            b.weight.copy_(a.weight.detach())
            if a.bias is not None:
                b.bias.copy_(a.bias.detach())
    return len(ours)


def _hifigan_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    h = SimpleNamespace(resblock=c.resblock, upsample_rates=list(c.upsample_rates),
                        upsample_kernel_sizes=list(c.upsample_kernel_sizes),
                        upsample_initial_channel=c.upsample_initial_channel,
                        resblock_kernel_sizes=list(c.resblock_kernel_sizes),
                        resblock_dilation_sizes=[list(d) for d in c.resblock_dilation_sizes])
    reference = _import_from(folder, "models").Generator(h)
    reference.remove_weight_norm()
    copy_convolutions(model.net, reference)
    return reference.eval()


def _melgan_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    if tuple(c.upsample_ratios) != (8, 8, 2, 2):
        raise ValueError(f"the MelGAN reference has upsampling ratios (8, 8, 2, 2) fixed, this configuration "
                         f"{tuple(c.upsample_ratios)}")
    reference = _import_from(folder, "mel2wav.modules").Generator(c.n_mels, c.ngf, c.n_residual_layers)
    remove_all_weight_norms(reference)
    copy_convolutions(model.net, reference)
    return reference.eval()


#: The reference implementations an adapter exists for, by our registry name.
REFERENCES: dict[str, ReferenceImplementation] = {
    "hifigan": ReferenceImplementation(
        "hifigan", "https://github.com/jik876/hifi-gan", "hifi-gan", ("models.py", "utils.py"), _hifigan_reference,
        "models.Generator(h) with h from our configuration, remove_weight_norm() as its inference.py does"),
    "melgan": ReferenceImplementation(
        "melgan", "https://github.com/descriptinc/melgan-neurips", "melgan-neurips", ("mel2wav/modules.py",),
        _melgan_reference,
        "mel2wav.modules.Generator(n_mels, ngf, n_residual_layers), weight norm folded (its interface keeps it: "
        "folding can only make the reference faster)"),
}


def check_reference_root(root: str | Path, models: list[str]) -> Path:
    """``root`` as a folder holding a checkout of every requested family's reference; raises before any work.

    Raises:
        ValueError: a model without an adapter (named, with those that have one).
        FileNotFoundError: ``root`` missing, or a reference's file missing (named, with the ``git clone`` that gets it).
    """
    unknown = [m for m in models if m not in REFERENCES]
    if unknown:
        raise ValueError(f"no reference adapter for {', '.join(map(repr, unknown))}; adapters exist for "
                         f"{', '.join(REFERENCES)} (the diffusion and flow references draw their noise inside, so "
                         "their output cannot be held equal to ours)")
    root = Path(root).expanduser()
    if not root.is_dir():
        first = REFERENCES[models[0]]
        raise FileNotFoundError(f"--against-reference {str(root)!r} is not a folder; clone the references into one, "
                                f"e.g. git clone {first.repository} {root / first.folder}")
    for m in models:
        ref = REFERENCES[m]
        for name in ref.files:
            if not (root / ref.folder / name).is_file():
                raise FileNotFoundError(f"the {m} reference is not under {root}: {root / ref.folder / name} is "
                                        f"missing (git clone {ref.repository} {root / ref.folder})")
    return root


def build_reference(root: str | Path, model: nn.Module) -> nn.Module:
    """The reference generator of ``model``'s family and configuration with ``model``'s weights (see
    :class:`ReferenceImplementation`)."""
    import warnings

    ref = REFERENCES[model.config.model]
    with warnings.catch_warnings():  # the references use torch.nn.utils.weight_norm, deprecated in torch 2.x
        warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
        return ref.build(Path(root) / ref.folder, model)


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _time_interleaved(paths: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall-clock seconds of each path's call, ``repeats`` rounds, the paths interleaved within each round."""
    times: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(repeats):
        for p, run in paths.items():
            t = time.perf_counter()
            run()
            times[p].append(time.perf_counter() - t)
    return times


def compare_with_reference(
    root: str | Path,
    models: list[str],
    sizes: list[str],
    *,
    duration_s: float = 1.0,
    repeats: int = 5,
    backends: tuple[str, ...] = ("torch", "onnxruntime"),
    weights: str = "trained",
    mel: str = "speech",
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Time the reference, our plain path and each prepared backend on ``duration_s`` seconds of audio, interleaved,
    ``repeats`` rounds after one warm-up call each; one row per (configuration, path).

    Every path's output is compared with the reference's on the same mel (``output_rel_l2_vs_reference``); a plain
    path further than :data:`SAME_OUTPUT_REL_L2` from it raises (the two would not be the same network), so no speed
    ratio is reported for different outputs. Times are wall-clock seconds of one ``generate`` (s); speed-ups are
    ratios of medians.
    """
    from .. import host
    from . import inference_bench as bench

    root = check_reference_root(root, models)
    if repeats < 1 or threads < 1 or duration_s <= 0:
        raise ValueError(f"repeats={repeats} and threads={threads} must be >= 1 and duration_s={duration_s} > 0")
    torch.set_num_threads(threads)
    frames = int(round(duration_s * bench.FRAMES_PER_S))
    clip = bench._speech_mel(frames) if mel == "speech" else bench._mel(frames)
    environment = {"device": host.read_cpu_model() or "cpu", "torch_version": torch.__version__,
                   "onnxruntime_version": bench._ort_version(),
                   "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rows: list[dict] = []
    for name in models:
        folder = root / REFERENCES[name].folder
        # only the clone's own commit ("+dirty": its files were changed), never that of a repository around it
        commit = (read_git_commit(folder) or "") if (folder / ".git").exists() else ""
        for size in sizes:
            plain = bench.build(name, size, bench.VARIANT_PLAIN, weights)
            ran_weights = "trained" if bench._weights_path(name, size, weights) is not None else "fresh"
            reference = build_reference(root, plain)
            paths: dict[str, Callable[[], torch.Tensor]] = {}

            def run_reference(reference=reference):
                with torch.no_grad():
                    return reference(clip).squeeze(1)

            paths["reference"] = run_reference
            paths["plain"] = lambda model=plain: bench.generate(model, clip)
            for backend in backends:
                prepared = bench.build(name, size, f"prepared-{backend}", weights)
                paths[f"prepared-{backend}"] = lambda model=prepared: bench.generate(model, clip)
            outputs = {p: run() for p, run in paths.items()}  # the warm-up call of each path
            gap = _rel_l2(outputs["plain"], outputs["reference"])
            if gap > SAME_OUTPUT_REL_L2:
                raise RuntimeError(f"{name} {size}: our plain output differs from the reference's by relative L2 "
                                   f"{gap:.3g} > {SAME_OUTPUT_REL_L2}: not the same network, no speed is compared")
            times = _time_interleaved(paths, repeats)
            median = {p: statistics.median(v) for p, v in times.items()}
            for p in paths:
                rows.append({"model": name, "size": size, "duration_s": frames / bench.FRAMES_PER_S, "path": p,
                             "time_median_s": median[p], "time_min_s": min(times[p]),
                             "speedup_vs_reference": median["reference"] / median[p],
                             "speedup_vs_plain": median["plain"] / median[p],
                             "output_rel_l2_vs_reference": _rel_l2(outputs[p], outputs["reference"]),
                             "repeats": repeats, "threads": threads, "weights": ran_weights, "mel": mel,
                             "reference": REFERENCES[name].repository, "reference_commit": commit, "command": "",
                             **environment})
            log(f"{name} {size}: " + ", ".join(f"{p} {median[p] * 1e3:.1f} ms ({median['reference'] / median[p]:.2f}x)"
                                              for p in paths))
    return pd.DataFrame(rows, columns=COLUMNS)
