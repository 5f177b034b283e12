"""Training energy: per-epoch records and the full run's energy predicted from the first epochs.

Used by: :mod:`greenaudio.training.loop`, notebooks/05_* (training cost of the 18 configurations).

The thesis (Chapter 5) records training energy with carbontracker, extrapolating the whole run from its first epoch.
:class:`CarbonTrackerEnergy` runs carbontracker 2.x *offline*:

- the IP geolocation (``geocoder.ip``, a network call) is replaced by a stub that reports no location, so the
  carbon intensity is carbontracker's world average, which is set explicitly (``constants.WORLD_AVG_CARBON_INTENSITY``);
- the PUE carbontracker multiplies every energy by (``constants.PUE_2023``, 1.58 by default: the Uptime Institute's
  2023 Global Data Center Survey, as carbontracker 2.4.7 cites it) is set explicitly;
- the prediction is read from carbontracker's own "Predicted consumption" output (parsed with its
  ``parser.get_consumption``), and cross-checked against N x mean epoch energy; carbontracker's
  ``aggregate_consumption`` is not used (its log parser always reads the epoch count as 1).

On a VM without Intel RAPL, carbontracker's CPU component falls back to ``GenericCPU``: a constant power whatever the
load (half the TDP of the CPU model if its table has it, e.g. 60 W for an AMD EPYC matched to the 7232P, else half the
table's mean TDP, 35.61 W in 2.4.7). The records say so (``generic_cpu_fallback`` and ``constant_power_w``).

carbontracker is optional: it is imported (about 8 s) only when a :class:`CarbonTrackerEnergy` starts.

Without a tracker, a training record's energy is CodeCarbon's offline CPU rule on the run's process CPU time
(:func:`codecarbon_cpu_training_energy`, used by the zoo's export and the WaveFlow study).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

from .config import EnergyConfig

__all__ = ["EnergyPrediction", "EpochEnergyTracker", "CarbonTrackerEnergy", "codecarbon_cpu_training_energy",
           "detect_host_type", "read_energy_window"]

#: Method label of a prediction (the k and N are in the record's fields ``epochs_measured`` and ``epochs_total``).
PREDICTION_METHOD = "predicted:linear-from-k-of-N-epochs"
#: Method label of carbontracker's per-epoch energies.
EPOCH_METHOD = "estimated:power x time (carbontracker: mean sampled power x epoch duration x PUE)"
J_PER_KWH = 3.6e6


def compute_linear_prediction_kwh(epoch_energies_kwh: list[float], total_epochs: int) -> float:
    """carbontracker's predictor: ``total_epochs`` x the mean energy of the measured epochs (in kWh).

    Args:
        epoch_energies_kwh: energies of the first k epochs (in kWh, PUE included).
        total_epochs: N, epochs of the full run.
    """
    if not epoch_energies_kwh:
        raise ValueError("need at least one measured epoch to predict from")
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be >= 1, got {total_epochs}")
    return total_epochs * sum(epoch_energies_kwh) / len(epoch_energies_kwh)


@dataclass(frozen=True)
class EnergyPrediction:
    """Energy and CO2 of a full training run, predicted from its first epochs.

    Attributes:
        energy_kwh: predicted energy of the full run (in kWh, PUE included), as carbontracker printed it.
        energy_j: the same in joules.
        emissions_gco2e: predicted emissions (in gCO2eq) = ``energy_kwh * intensity_g_per_kwh``.
        duration_s: predicted duration of the full run (in seconds) = N x mean epoch duration.
        epochs_measured: k, the epochs the prediction extrapolates from.
        epochs_total: N, the epochs predicted for.
        epochs_total_source: how N was obtained (``"max_epochs"``, ``"max_steps"``, ``"max_time_s estimate"``,
            ``"EnergyConfig.total_epochs"``).
        epoch_energies_kwh: carbontracker's energies of the k epochs (in kWh, PUE included).
        epoch_durations_s: carbontracker's durations of the k epochs (in seconds).
        crosscheck_kwh: N x mean(epoch_energies_kwh), recomputed here (should equal ``energy_kwh`` to print precision).
        method: :data:`PREDICTION_METHOD`.
        tool: ``"carbontracker"`` (or the name of another tracker).
        tool_version: the tool's version.
        components: measured components with their devices, handler and, when constant, their power (in W).
        generic_cpu_fallback: carbontracker used its constant-power ``GenericCPU`` (no RAPL), not a measurement.
        pue: power usage effectiveness applied.
        intensity_g_per_kwh: carbon intensity used (in gCO2eq/kWh).
        intensity_source: where that intensity comes from.
        host_type: as :func:`greenaudio.host.detect_host_type`: ``"bare metal"``, ``"virtual machine"``,
            ``"container"``, ``"container in virtual machine"`` or ``"unknown"``.
        device_model: CPU model and, when used, GPU model.
        notes: anything a reader must know (simulated components, constant-power fallback).
    """

    energy_kwh: float
    energy_j: float
    emissions_gco2e: float
    duration_s: float
    epochs_measured: int
    epochs_total: int
    epochs_total_source: str
    epoch_energies_kwh: tuple[float, ...]
    epoch_durations_s: tuple[float, ...]
    crosscheck_kwh: float
    method: str = PREDICTION_METHOD
    tool: str = "carbontracker"
    tool_version: str = ""
    components: tuple[dict[str, Any], ...] = ()
    generic_cpu_fallback: bool = False
    pue: float = 1.0
    intensity_g_per_kwh: float = 437.0
    intensity_source: str = ""
    host_type: str = "unknown"
    device_model: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        d = dataclasses.asdict(self)
        d["method_detail"] = f"predicted:linear-from-{self.epochs_measured}-of-{self.epochs_total}-epochs"
        return d


class EpochEnergyTracker(Protocol):
    """What the trainer needs from an energy tracker (carbontracker or a fake one in tests).

    ``epoch_start()`` opens an epoch window; ``epoch_end(complete, total_epochs)`` closes it and returns a dict with
    at least ``energy_kwh`` (or ``None``), ``duration_s`` and ``prediction`` (an :class:`EnergyPrediction` or
    ``None``); ``close()`` stops the tracker.
    """

    def epoch_start(self) -> None: ...

    def epoch_end(self, *, complete: bool, total_epochs: int | None, total_epochs_source: str = "") -> dict[str, Any]: ...

    def close(self) -> None: ...


def codecarbon_cpu_training_energy(cpu_time_s: float) -> dict[str, Any]:
    """The energy fields of a mini-protocol training record, by CodeCarbon's CPU rule alone on this machine
    (process CPU time x TDP / logical CPUs; no RAM term): ``energy_j`` (J), ``energy_method``
    (``"estimated:codecarbon-cpu-process-rule"``) and ``energy_constants`` (the power model's constants, a dict).

    Used by the zoo's export and the WaveFlow study (their training records)."""
    from greenaudio.measure.power_models import METHOD_CODECARBON_CPU, codecarbon_cpu_power_model

    model = codecarbon_cpu_power_model()
    return {"energy_j": model.energy_j(cpu_time_s), "energy_method": METHOD_CODECARBON_CPU,
            "energy_constants": model.to_dict()}


def detect_host_type() -> str:
    """Bare metal, virtual machine or container: the same detection and vocabulary as the measurement harness."""
    from greenaudio.host import detect_host_type as detect

    return detect().kind


def detect_device_model(include_gpu: bool = True) -> str:
    """CPU model name (``/proc/cpuinfo``) and, if CUDA is available, the GPU's name."""
    from greenaudio.host import read_cpu_model

    parts = [f"CPU: {read_cpu_model() or 'unknown'} ({os.cpu_count()} logical cores)"]
    if include_gpu:
        try:
            import torch

            if torch.cuda.is_available():
                parts.append(f"GPU: {torch.cuda.get_device_name()}")
        except Exception:  # pragma: no cover - best effort
            pass
    return "; ".join(parts)


def read_energy_window(handle: Any) -> dict[str, Any]:
    """Turn what a measurement harness's energy window yielded into a plain record.

    Accepts a dataclass (all fields kept), a mapping, or any object with an ``energy_j`` attribute (plus optional
    ``method``, ``tool``, ``duration_s`` attributes). Read after the window's ``__exit__``.
    """
    if handle is None:
        return {}
    if dataclasses.is_dataclass(handle) and not isinstance(handle, type):
        return _plain(dataclasses.asdict(handle))
    if isinstance(handle, dict):
        return _plain(dict(handle))
    if hasattr(handle, "to_dict"):
        return _plain(handle.to_dict())
    out = {}
    for name in ("energy_j", "energy_kwh", "duration_s", "method", "tool", "tool_version", "domains", "device_model"):
        if hasattr(handle, name):
            out[name] = getattr(handle, name)
    if not out:
        out["repr"] = repr(handle)
    return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        try:
            return value.item()
        except Exception:
            pass
    return repr(value)


class _NoLocation:
    """Stand-in for ``geocoder.ip("me")`` offline: no location, so carbontracker uses the world average."""

    ok = False
    address = "offline (geolocation stubbed by greenaudio)"
    country = "Unknown"
    latlng = None

    def __repr__(self) -> str:
        return "<offline: geolocation stubbed>"


@contextlib.contextmanager
def _offline_carbontracker(pue: float, intensity_g_per_kwh: float):
    """Patch carbontracker's geolocation, PUE and world intensity for as long as the tracker lives."""
    from carbontracker import constants
    from carbontracker.emissions.intensity import intensity as ct_intensity

    saved = (ct_intensity.geocoder.ip, constants.PUE_2023, constants.WORLD_AVG_CARBON_INTENSITY)
    ct_intensity.geocoder.ip = lambda *args, **kwargs: _NoLocation()
    constants.PUE_2023 = float(pue)
    constants.WORLD_AVG_CARBON_INTENSITY = float(intensity_g_per_kwh)
    try:
        yield
    finally:
        ct_intensity.geocoder.ip, constants.PUE_2023, constants.WORLD_AVG_CARBON_INTENSITY = saved


class CarbonTrackerEnergy:
    """carbontracker, offline, as an :class:`EpochEnergyTracker`.

    The tracker is created on the first :meth:`epoch_start` (so the ~8 s import is paid only when energy is
    wanted). It predicts once, at the end of its k-th *complete* epoch (``EnergyConfig.epochs_before_pred``), for N
    epochs (``total_epochs`` passed to that :meth:`epoch_end`). An incomplete epoch (budget hit mid-epoch) is
    recorded but never used for the prediction.

    Args:
        config: offline settings (components, PUE, intensity, simulated components).
        log_dir: directory of carbontracker's own logs.
        predict: ``False`` when the run already has its prediction (resumed run): only per-epoch energies.
    """

    tool = "carbontracker"

    def __init__(self, config: EnergyConfig, log_dir: str | os.PathLike, predict: bool = True):
        self.config = config
        self.log_dir = Path(log_dir)
        self.predict = predict
        self._ct = None
        self._patch: contextlib.ExitStack | None = None
        self._complete_epochs = 0
        self._prefix = f"ga{int(time.time() * 1000) % 10**10}"
        self.tool_version = ""
        self.prediction: EnergyPrediction | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        from importlib.metadata import version

        from carbontracker.tracker import CarbonTracker

        self.tool_version = version("carbontracker")
        self._patch = contextlib.ExitStack()
        self._patch.enter_context(_offline_carbontracker(self.config.pue, self.config.intensity_g_per_kwh))
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if cfg.sim_gpu_name is not None:
            kwargs.update(sim_gpu=cfg.sim_gpu_name, sim_gpu_watts=cfg.sim_gpu_watts, sim_gpu_util=cfg.sim_gpu_util)
        if cfg.sim_cpu_name is not None:
            kwargs.update(sim_cpu=cfg.sim_cpu_name, sim_cpu_tdp=cfg.sim_cpu_tdp_w, sim_cpu_util=cfg.sim_cpu_util)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            self._ct = CarbonTracker(
                epochs=max(cfg.epochs_before_pred, 1),  # N is set just before the prediction (may be estimated)
                epochs_before_pred=cfg.epochs_before_pred if self.predict else 0,
                monitor_epochs=10**9,  # never self-delete: the last epoch's energy must stay readable; close() stops
                update_interval=cfg.update_interval_s,
                interpretable=False,
                ignore_errors=True,  # never kill the training (carbontracker calls os._exit otherwise)
                components=cfg.components,
                log_dir=str(self.log_dir),
                log_file_prefix=self._prefix,
                verbose=0,
                decimal_precision=15,
                **kwargs,
            )

    def close(self) -> None:
        """Stop carbontracker's threads and undo the offline patches."""
        if self._ct is not None and not getattr(self._ct, "deleted", True):
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                self._ct.stop()
        self._ct = None
        if self._patch is not None:
            self._patch.close()
            self._patch = None

    def __enter__(self) -> "CarbonTrackerEnergy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- epochs ---------------------------------------------------------------------------------------------------
    def epoch_start(self) -> None:
        """Open carbontracker's epoch window (creating the tracker on first use)."""
        if self._ct is None:
            self._start()
        if not self._ct.deleted:
            self._ct.epoch_start()

    def epoch_end(self, *, complete: bool, total_epochs: int | None, total_epochs_source: str = "") -> dict[str, Any]:
        """Close the epoch window and return its energy record (and the prediction at the k-th complete epoch).

        Args:
            complete: the epoch ran over the whole training set.
            total_epochs: N for the prediction (may be ``None`` except at the k-th complete epoch).
            total_epochs_source: how N was obtained (recorded).

        Returns:
            dict with ``energy_kwh``, ``energy_j``, ``duration_s``, ``mean_power_w``, ``method``, ``tool``,
            ``tool_version``, ``pue``, ``generic_cpu_fallback``, ``components`` and ``prediction``.
        """
        ct = self._ct
        if ct is None or ct.deleted:
            return {"energy_kwh": None, "energy_j": None, "duration_s": None, "prediction": None,
                    "note": "carbontracker not running (failed or stopped; see its logs)"}
        will_predict = self.predict and complete and self.prediction is None and (
            self._complete_epochs + 1 == self.config.epochs_before_pred
        )
        if will_predict:
            if total_epochs is None:
                raise ValueError("total_epochs is needed at the prediction epoch")
            ct.epochs = int(total_epochs)
            ct.epochs_before_pred = ct.epoch_counter  # carbontracker predicts when its counter equals this
        else:
            ct.epochs_before_pred = 0  # no prediction from this (possibly incomplete) epoch
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            ct.epoch_end()
        if ct.deleted:  # carbontracker hit an error and stopped itself (ignore_errors=True)
            return {"energy_kwh": None, "energy_j": None, "duration_s": None, "prediction": None,
                    "note": "carbontracker stopped after an error; see its logs"}
        if complete:
            self._complete_epochs += 1
        energies = list(ct.tracker.total_energy_per_epoch())
        durations = list(ct.tracker.epoch_times)
        energy_kwh = float(energies[-1])
        duration_s = float(durations[-1])
        components, generic = self._components()
        pue = float(self.config.pue)
        record: dict[str, Any] = {
            "energy_kwh": energy_kwh,
            "energy_j": energy_kwh * J_PER_KWH,
            "duration_s": duration_s,
            "mean_power_w": (energy_kwh * J_PER_KWH / pue / duration_s) if duration_s > 0 else None,
            "method": EPOCH_METHOD,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "pue": pue,
            "generic_cpu_fallback": generic,
            "components": components,
            "prediction": None,
        }
        if will_predict:
            self.prediction = self._prediction(energies, durations, int(total_epochs), total_epochs_source,
                                               components, generic)
            record["prediction"] = self.prediction
        return record

    def _prediction(self, energies: list, durations: list, total_epochs: int, total_epochs_source: str,
                    components: list[dict[str, Any]], generic: bool) -> EnergyPrediction:
        """carbontracker's prediction after the first ``epochs_before_pred`` complete epochs (its printed values
        where they can be read, else ``N x`` the mean epoch energy), with the measured epochs and how N was
        obtained."""
        k = self.config.epochs_before_pred
        first_e = [float(e) for e in energies[-k:]]
        first_t = [float(t) for t in durations[-k:]]
        printed = self._read_printed_prediction()
        cross = compute_linear_prediction_kwh(first_e, total_epochs)
        energy_pred = printed["energy (kWh)"] if printed and printed.get("energy (kWh)") is not None else cross
        co2 = printed["co2eq (g)"] if printed and printed.get("co2eq (g)") is not None else (
            cross * self.config.intensity_g_per_kwh)
        notes = []
        if printed is None:
            notes.append("carbontracker's printed prediction could not be parsed; value recomputed (N x mean)")
        if generic:
            notes.append(
                "no RAPL on this host: carbontracker's GenericCPU is a constant power whatever the load (half the "
                "TDP of the matched CPU model, else half the mean TDP of its table = 35.61 W), not a measurement"
            )
        if self.config.sim_gpu_name is not None or self.config.sim_cpu_name is not None:
            notes.append("simulated constant-power component(s): " + ", ".join(
                n for n in (self.config.sim_gpu_name, self.config.sim_cpu_name) if n))
        return EnergyPrediction(
            energy_kwh=float(energy_pred), energy_j=float(energy_pred) * J_PER_KWH, emissions_gco2e=float(co2),
            duration_s=total_epochs * sum(first_t) / len(first_t), epochs_measured=k, epochs_total=total_epochs,
            epochs_total_source=total_epochs_source, epoch_energies_kwh=tuple(first_e),
            epoch_durations_s=tuple(first_t), crosscheck_kwh=cross, tool=self.tool, tool_version=self.tool_version,
            components=tuple(components), generic_cpu_fallback=generic, pue=float(self.config.pue),
            intensity_g_per_kwh=float(self.config.intensity_g_per_kwh),
            intensity_source=self.config.intensity_source, host_type=detect_host_type(),
            device_model=detect_device_model(), notes="; ".join(notes),
        )

    # -- helpers --------------------------------------------------------------------------------------------------
    def _components(self) -> tuple[list[dict[str, Any]], bool]:
        out = []
        generic = False
        for comp in getattr(self._ct.tracker, "components", []):
            handler = getattr(comp, "_handler", None)
            kind = type(handler).__name__
            info: dict[str, Any] = {"name": comp.name, "handler": kind}
            with contextlib.suppress(Exception):
                info["devices"] = list(comp.devices())
            if kind == "GenericCPU":
                generic = True
                info["constant_power_w"] = float(getattr(handler, "tdp", float("nan")))
            elif kind in ("SimulatedGPUHandler", "SimulatedCPUHandler"):
                with contextlib.suppress(Exception):
                    info["constant_power_w"] = float(handler.power_usage()[0])
            out.append(info)
        return out, generic

    def _read_printed_prediction(self) -> dict[str, Any] | None:
        """Parse the last "Predicted consumption for N epoch(s)" block of carbontracker's output log.

        carbontracker 2.4.7's ``parser.get_consumption`` misses this block when ``interpretable=False`` (its regex
        requires a date or the "equivalent to" lines after the CO2 line), so the block is parsed here.
        """
        files = sorted(glob.glob(str(self.log_dir / f"{self._prefix}_*_carbontracker_output.log")),
                       key=os.path.getmtime)
        if not files:
            return None
        matches = _PRED_RE.findall(Path(files[-1]).read_text())
        if not matches:
            return None
        epochs, _time, energy, co2 = matches[-1]
        return {"epochs": int(epochs), "energy (kWh)": float(energy), "co2eq (g)": float(co2)}


_PRED_RE = re.compile(
    r"Predicted consumption for (\d+) epoch\(s\):\s*\n\s*Time:\s*(.*?)\n\s*Energy:\s*([-+0-9.eE]+) kWh\s*\n"
    r"\s*CO2eq:\s*([-+0-9.eE]+) g"
)

EnergyWindowFactory = Callable[[], ContextManager[Any]]
