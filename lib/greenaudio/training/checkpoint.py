"""Atomic checkpoints that never lose their architecture.

Used by: :mod:`greenaudio.training.loop`, notebooks that reload trained vocoders.

A run directory holds::

    last.pt            latest good checkpoint (model, discriminator, optimisers, schedulers, RNG states, step,
                       epoch, elapsed time, log records, energy records, resolved model config)
    config.json        the model's resolved ``config.to_dict()`` (the same dict as inside ``last.pt``)
    train_config.json  the :class:`~greenaudio.training.config.TrainConfig` of the run
    log.jsonl/log.csv  one record per validation (convergence curves), consistent with ``last.pt``
    energy.json        per-epoch energy records and the predicted energy of the full run
    failure.json       only when the run stopped on a NaN/inf loss: which term, which step

Every file is written atomically (temporary file in the same directory, ``fsync``, ``os.replace``), so a run killed
at any moment (SIGKILL included) leaves either the previous or the new version of each file, never a truncated one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "LoadedCheckpoint",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_checkpoint",
    "load_checkpoint",
    "load_training_log",
    "save_training_log",
    "checkpoint_path",
]

CHECKPOINT_NAME = "last.pt"
CONFIG_NAME = "config.json"
FORMAT_VERSION = 1


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory + ``os.replace``).

    Args:
        path: destination file; its directory is created if needed.
        data: the full content.

    Returns:
        the destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (best effort; not supported everywhere)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """Path of the latest checkpoint of a run directory."""
    return Path(run_dir) / CHECKPOINT_NAME


def save_checkpoint(run_dir: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Save a training state atomically, with its model config as JSON beside it.

    Args:
        run_dir: the run directory.
        state: must contain ``"model_config"`` (the model's ``config.to_dict()``) and ``"model"`` (its state dict);
            anything else torch can pickle (optimiser and scheduler states, RNG states, step, logs) is kept.

    Returns:
        path of the checkpoint file.

    Raises:
        ValueError: ``state`` has no ``model_config`` or no ``model``.
    """
    missing = [k for k in ("model_config", "model") if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}; required keys: ['model_config', 'model']")
    payload = dict(state)
    payload.setdefault("format_version", FORMAT_VERSION)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    run_dir = Path(run_dir)
    # config first: a checkpoint is never on disk without its architecture beside it.
    atomic_write_text(run_dir / CONFIG_NAME, _json(payload["model_config"]))
    return atomic_write_bytes(run_dir / CHECKPOINT_NAME, buffer.getvalue())


def read_checkpoint_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw dict stored by :func:`save_checkpoint` (``path`` may be the file or its run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=False)


@dataclass
class LoadedCheckpoint:
    """A trained model rebuilt from a checkpoint.

    Attributes:
        model: the vocoder, rebuilt through ``greenaudio.vocoders.registry.build`` from the stored config, with the
            checkpoint's weights, in eval mode.
        config: the model's typed config.
        step: optimisation steps done (GANs: one step = one D update + one G update).
        epoch: completed epochs (fractional progress is in ``batch_in_epoch``).
        elapsed_s: training wall-clock time accumulated up to the checkpoint (in seconds).
        records: validation log records (dicts) up to the checkpoint.
        train_config: the run's training settings (plain dict).
        discriminator_state: the discriminator's state dict (GANs) or ``None``.
        state: the full raw checkpoint dict.
    """

    model: Any
    config: Any
    step: int
    epoch: int
    elapsed_s: float
    records: list[dict[str, Any]]
    train_config: dict[str, Any]
    discriminator_state: dict[str, Any] | None
    state: dict[str, Any] = field(repr=False)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild a trained vocoder from a checkpoint written by the trainer.

    The architecture comes from the config stored inside the checkpoint (``model_config``, the model's
    ``config.to_dict()``), so the registry builds the exact model the weights belong to.

    Args:
        path: a checkpoint file or a run directory (then ``<run_dir>/last.pt``).
        device: where to put the model.

    Returns:
        :class:`LoadedCheckpoint` with the model in eval mode.

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: the stored config names a model that is not registered (message lists the valid ones).
    """
    from greenaudio.vocoders import registry

    state = read_checkpoint_state(path)
    model = registry.build(state["model_config"])
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return LoadedCheckpoint(
        model=model,
        config=model.config,
        step=int(state.get("step", 0)),
        epoch=int(state.get("epoch", 0)),
        elapsed_s=float(state.get("elapsed_s", 0.0)),
        records=list(state.get("records", [])),
        train_config=dict(state.get("train_config", {})),
        discriminator_state=state.get("discriminator"),
        state=state,
    )


def save_training_log(run_dir: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write validation records as ``log.jsonl`` and ``log.csv`` (atomically; union of keys as CSV columns).

    Returns:
        the JSONL and CSV paths.
    """
    records = [dict(r) for r in records]
    run_dir = Path(run_dir)
    jsonl = "".join(json.dumps(r, sort_keys=False, default=_json_default) + "\n" for r in records)
    columns: list[str] = []
    for r in records:
        for key in r:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in records:
        writer.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()})
    return (
        atomic_write_text(run_dir / "log.jsonl", jsonl),
        atomic_write_text(run_dir / "log.csv", out.getvalue()),
    )


def load_training_log(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``log.jsonl`` of a run directory back as a list of dicts (empty if none yet)."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """Atomic pretty JSON write (tensors and numpy scalars converted)."""
    return atomic_write_text(path, _json(value))


def compute_code_fingerprint(packages: Sequence[str] = ("vocoders", "training")) -> str:
    """Short hash of the package's source files that define what a training run computes.

    Include it in the name of a cached run so that a run made by older code is never reused silently.
    """
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            raise ValueError(f"unknown greenaudio subpackage {package!r}")
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
