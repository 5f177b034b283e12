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
The temporary file of a save that was killed is removed by the next save of that file and when the trainer resumes
(:func:`remove_stale_temporaries`).

Checkpoints hold tensors and plain values only (dicts, lists, tuples, str, int, float, bool, None): they are read with
``torch.load(..., weights_only=True)``, so a file carrying pickled objects is refused (:class:`CheckpointError`,
naming the file) instead of running their code. Each checkpoint stores the sha256 of its content (every tensor's
bytes, every value; key ``"sha256"``), verified on reading, so a flipped byte is detected and the file named.
Checkpoints of format 1 (written before the digest; their RNG state holds a numpy array) are still read, through a
closed allow-list of the numpy array types and ``TorchVersion``, and carry no digest to verify.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from greenaudio.files import atomic_write_bytes, atomic_write_text, remove_stale_temporaries

logger = logging.getLogger(__name__)

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_state", "load_training_log", "save_training_log",
           "checkpoint_path"]

CHECKPOINT_NAME = "last.pt"
CONFIG_NAME = "config.json"
#: 1: pickled numpy RNG state, no digest; 2: tensors and plain values only, with the content's sha256.
FORMAT_VERSION = 2
#: Key of the content digest inside a checkpoint (format 2).
DIGEST_KEY = "sha256"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable (truncated, corrupt), its content not matching its stored sha256,
    or holding pickled Python objects (refused unread). The message names the file."""


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
    """Save a training state atomically, with its model config as JSON beside it and its sha256 inside.

    Args:
        run_dir: the run directory.
        state: must contain ``"model_config"`` (the model's ``config.to_dict()``) and ``"model"`` (its state dict);
            anything else made of tensors and plain values (dicts, lists, tuples, str, int, float, bool, None) is
            kept. numpy scalars and arrays, ``Path`` and ``str``/``int``/``float`` subclasses are stored as their
            plain equivalents (arrays as tensors).

    Returns:
        path of the checkpoint file.

    Raises:
        ValueError: ``state`` has no ``model_config`` or no ``model``, or holds another kind of object (the message
            names where; store it as a plain dict), before anything is written.
    """
    missing = [k for k in ("model_config", "model") if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}; required keys: ['model_config', 'model']")
    payload = dict(_plain(dict(state), "state"))
    payload["format_version"] = FORMAT_VERSION
    payload.pop(DIGEST_KEY, None)
    payload[DIGEST_KEY] = compute_state_digest(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    run_dir = Path(run_dir)
    # config first: a checkpoint is never on disk without its architecture beside it.
    atomic_write_text(run_dir / CONFIG_NAME, _json(payload["model_config"]))
    return atomic_write_bytes(run_dir / CHECKPOINT_NAME, buffer.getvalue())


def _plain(value: Any, where: str) -> Any:
    """``value`` made of tensors and plain values only (the same object where nothing had to change)."""
    if value is None or isinstance(value, torch.Tensor) or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise ValueError(f"checkpoint value at {where} is a numpy array of dtype {value.dtype}: only numeric "
                             "arrays can be stored (as tensors)")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)  # e.g. torch.__version__ (a TorchVersion) as a plain str
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        items = [(_plain(k, f"{where} (a key)"), _plain(v, f"{where}[{k!r}]")) for k, v in value.items()]
        if type(value) in (dict, OrderedDict) and all(a is k and b is v for (a, b), (k, v)
                                                        in zip(items, value.items())):
            return value
        out = OrderedDict(items) if isinstance(value, OrderedDict) else dict(items)
        if isinstance(value, OrderedDict) and hasattr(value, "_metadata"):  # a state dict's module versions
            out._metadata = _plain(value._metadata, f"{where}._metadata")
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) in (list, tuple) and all(a is b for a, b in zip(items, value)):
            return value
        return list(items) if isinstance(value, list) else tuple(items)
    raise ValueError(f"checkpoint value at {where} is a {type(value).__module__}.{type(value).__qualname__}: "
                     "checkpoints hold tensors and plain values only (dict, list, tuple, str, int, float, bool, "
                     "None); store it as a plain dict (e.g. dataclasses.asdict or its to_dict())")


def compute_state_digest(state: Mapping[str, Any]) -> str:
    """sha256 (hex) of a checkpoint's content: every key and value, tensors by dtype, shape and bytes; the
    ``"sha256"`` key itself is left out. Key order does not matter; types do (``1`` differs from ``1.0``)."""
    digest = hashlib.sha256()
    _feed_digest(digest, {k: v for k, v in state.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _feed_digest(digest, value: Any) -> None:
    def tag(kind: bytes, body: bytes = b"") -> None:
        digest.update(kind + len(body).to_bytes(8, "little") + body)

    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        tag(b"T", f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())
    elif value is None:
        tag(b"N")
    elif isinstance(value, bool):
        tag(b"?", b"1" if value else b"0")
    elif isinstance(value, int):
        tag(b"i", str(int(value)).encode())
    elif isinstance(value, float):
        tag(b"f", float(value).hex().encode())
    elif isinstance(value, str):
        tag(b"s", value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, bytes):
        tag(b"b", value)
    elif isinstance(value, Mapping):
        tag(b"{", str(len(value)).encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed_digest(digest, key)
            _feed_digest(digest, value[key])
    elif isinstance(value, (list, tuple)):
        tag(b"[" if isinstance(value, list) else b"(", str(len(value)).encode())
        for item in value:
            _feed_digest(digest, item)
    else:
        raise ValueError(f"cannot digest a {type(value).__name__} (checkpoints hold tensors and plain values only)")


def _legacy_safe_globals() -> list:
    """What format-1 checkpoints pickled besides tensors: numpy arrays (the RNG state) and ``torch.__version__``.
    A closed list of data types: none of them runs code of the file's choosing."""
    from torch.torch_version import TorchVersion

    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    out: list = [np.ndarray, np.dtype, TorchVersion, multiarray._reconstruct, multiarray.scalar]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # files written under numpy 1.x or 2.x
        out += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    out += [type(np.dtype(t)) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                        "uint64", "float16", "float32", "float64")]
    return out


def _global_names(items: list) -> set[str]:
    return {item[1] if isinstance(item, tuple) else f"{item.__module__}.{item.__qualname__}" for item in items}


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return CheckpointError(f"checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {first}): it is "
                           f"truncated or corrupt; delete it (or its run folder {str(path.parent)!r}) to start the "
                           "run again, or restore a copy")


def read_checkpoint_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The dict stored by :func:`save_checkpoint` (``path`` may be the file or its run directory).

    Read with ``torch.load(..., weights_only=True)`` (tensors and plain values only; format-1 files also with the
    numpy array types of their RNG state), then checked against its stored sha256.

    Raises:
        FileNotFoundError: no checkpoint there.
        CheckpointError: naming the file: it holds pickled objects other than tensors and plain values (refused,
            nothing of it run), it cannot be read (truncated, corrupt), or its content does not match its sha256.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        state = _read_legacy(path, map_location, exc)
    except Exception as exc:  # noqa: BLE001 - zip/stream errors of a truncated or damaged file
        raise _unreadable(path, exc) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a training state dict; "
                              "it was not written by greenaudio.training")
    stored = state.get(DIGEST_KEY)
    if stored is None:
        if state.get("format_version", 1) != 1:
            raise CheckpointError(f"checkpoint {str(path)!r} has lost its sha256 (format {state['format_version']}): "
                                  f"it is corrupt; delete it (or its run folder {str(path.parent)!r}) to start again")
        return state  # format 1: no digest to check
    try:
        computed = compute_state_digest(state)
    except ValueError as exc:
        raise _unreadable(path, exc) from None
    if computed != stored:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match the sha256 stored in it (stored "
                              f"{str(stored)[:16]}..., content {computed[:16]}...): the file is corrupt (a changed "
                              f"byte); delete it (or its run folder {str(path.parent)!r}) or restore a copy")
    return state


def _read_legacy(path: Path, map_location, error: BaseException) -> dict[str, Any]:
    """A format-1 checkpoint (numpy RNG state) through the closed allow-list, or :class:`CheckpointError`."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {str(path)!r} refused: it is not in torch.save's zip format (a bare pickle, "
                              "which greenaudio never writes, or a damaged file); it was not loaded. Delete it (or "
                              f"its run folder {str(path.parent)!r}) to start the run again")
    try:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception as exc:  # noqa: BLE001 - not even the pickle's opcodes can be read
        raise _unreadable(path, exc) from None
    allowed = _legacy_safe_globals()
    extra = sorted(unsafe - _global_names(allowed))
    if extra:
        raise CheckpointError(f"checkpoint {str(path)!r} refused: besides tensors and plain values it holds pickled "
                              f"Python objects ({', '.join(extra)}), which could run code when loaded; it was not "
                              "loaded. greenaudio's checkpoints hold none: use a checkpoint written by "
                              "greenaudio.training")
    if not unsafe:
        raise _unreadable(path, error)
    try:
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(path, exc) from None
    if not isinstance(state, dict) or int(state.get("format_version", 1)) != 1:
        raise CheckpointError(f"checkpoint {str(path)!r} refused: it holds numpy or TorchVersion objects but says it "
                              f"is of format {state.get('format_version') if isinstance(state, dict) else '?'} (only "
                              "format-1 checkpoints may); it was not used")
    return state


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
        CheckpointError: the file is refused (pickled objects), unreadable or corrupt (see
            :func:`read_checkpoint_state`); the message names it.
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
