"""The executors of the grids: the cells here, one after another, or as Ray tasks on a cluster; and the one grid
runner (:func:`run_grid`) that both the benchmark grid (:mod:`greenaudio.orchestration.bench`) and the zoo grid
(:mod:`greenaudio.orchestration.zoo`) call, the executor chosen by a Ray address (:func:`make_executor`).

Used by: ``greenaudio grid``, ``greenaudio bench``, ``greenaudio train --ray-address``, book/running-full-protocol.md,
the ``RAY_ADDRESS`` parameter of notebooks/05_1_cost_benchmark and 05_2_quality.

A grid is a list of :class:`Task` (one per cell: a module-level function and its plain arguments, so that a Ray
worker can import and run it). The executor runs them and hands each value back to the driver (``on_result``), or
why the task failed (``on_failure``); the driver alone writes the grid's store, one transaction per cell, so no two
processes write one SQLite file.

On Ray every task declares its resources (``num_cpus``, ``num_gpus``, ``memory``) and is retried (``max_retries``)
when its worker dies. Every wait is bounded: an unreachable address, or a port held by something that is not a Ray
head, fails within ``connect_timeout_s`` (a gRPC handshake probes the address, and ``ray.init`` runs in a thread
abandoned at the deadline), a cluster that cannot host the requested resources fails before anything is submitted,
and a task that outlives its deadline is cancelled and reported as failed. :func:`check_ray_address_form` rejects a
malformed address before any work.

Ray is an optional extra (``pip install greenaudio[cluster]``, ``ray[default]==2.60.0``); importing this module
never imports Ray. Usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``) before Ray is imported.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = ["ClusterError", "Task", "SequentialExecutor", "RayExecutor", "make_executor", "run_grid",
           "check_ray_address", "check_ray_address_form"]


class ClusterError(ValueError):
    """The cluster cannot run the grid: Ray missing, an unreachable address, or too few GPUs/CPUs/memory."""


# -- the one grid runner -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One cell's work: ``fn(*args)`` (``fn`` at module level and ``args`` plain values: a Ray worker imports and
    runs it), named, with the GPUs it needs and its deadline (in s after submission; Ray only)."""

    name: str
    fn: Callable[..., Any]
    args: tuple
    context: Any = None
    num_gpus: float = 0
    timeout_s: float | None = None


#: ``on_result(context, value)`` and ``on_failure(context, error, wall_s)``: the driver's side of a grid.
OnResult = Callable[[Any, Any], None]
OnFailure = Callable[[Any, "BaseException | str", "float | None"], None]


def run_grid(executor: "SequentialExecutor | RayExecutor", tasks: Sequence[Task], on_result: OnResult,
             on_failure: OnFailure) -> None:
    """Run every task on ``executor``; the driver receives each value (``on_result``) or each failure
    (``on_failure``: the exception here, the reason text from Ray, and the wall time where it was measured)."""
    if tasks:
        executor.run(list(tasks), on_result, on_failure)


def make_executor(ray_address: str | None, *, connect_timeout_s: float = 10.0, num_cpus: float = 1,
                  memory_gb: float | None = None, max_retries: int = 2,
                  without_address: str = "run the cells one after another in this process"):
    """The executor of a grid: :class:`SequentialExecutor` without an address, else :class:`RayExecutor` (Ray
    imported and the address probed now, bounded by ``connect_timeout_s``).

    Raises:
        ValueError: a malformed address.
        ClusterError: Ray is not installed (the message says how to install it, or that leaving the address out
            will ``without_address``), or nothing that answers as a Ray head listens at the address.
    """
    if ray_address is None:
        return SequentialExecutor()
    return RayExecutor(ray_address, connect_timeout_s=connect_timeout_s, num_cpus=num_cpus,
                       memory_b=None if memory_gb is None else memory_gb * 1e9, max_retries=max_retries,
                       without_address=without_address)


class SequentialExecutor:
    """Runs the tasks in this process, one after another. A task that raises an ``Exception`` is a failure; the
    grid goes on (``KeyboardInterrupt`` stops it)."""

    name = "sequential"

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_failure: OnFailure) -> None:
        for task in tasks:
            t0 = time.perf_counter()
            try:
                value = task.fn(*task.args)
            except Exception as exc:  # the driver records it; the grid goes on
                on_failure(task.context, exc, time.perf_counter() - t0)
                continue
            on_result(task.context, value)


class RayExecutor:
    """Runs the tasks as Ray tasks at ``address`` (each asking for ``num_cpus`` CPUs, its ``num_gpus`` and
    ``memory_b`` bytes, retried ``max_retries`` times when its worker dies) and collects their values on the driver.

    Ray is imported and the address probed when the executor is made; :meth:`run` connects (bounded by
    ``connect_timeout_s``), checks that one node can host a task of each GPU count before submitting anything, and
    shuts Ray down at the end.
    """

    name = "ray"

    def __init__(self, address: str, *, connect_timeout_s: float, num_cpus: float, memory_b: float | None,
                 max_retries: int, without_address: str):
        self.address, self.connect_timeout_s = address, connect_timeout_s
        self.num_cpus, self.memory_b, self.max_retries = num_cpus, memory_b, max_retries
        self.ray = _require_ray(address, connect_timeout_s, without_address)

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_failure: OnFailure) -> None:
        ray = self.ray
        _connect(ray, self.address, self.connect_timeout_s)
        try:
            for gpus in sorted({t.num_gpus for t in tasks}):  # before anything is submitted
                _check_resources(ray, self.address, self.num_cpus, gpus, self.memory_b)
            _ray_run_tasks(ray, tasks, self._options, on_result, on_failure)
        finally:
            ray.shutdown()

    def _options(self, task: Task) -> dict[str, Any]:
        options = {"num_cpus": self.num_cpus, "num_gpus": task.num_gpus, "max_retries": self.max_retries,
                   "retry_exceptions": False}
        if self.memory_b is not None:
            options["memory"] = int(self.memory_b)
        return options


# -- Ray -------------------------------------------------------------------------------------------------------------
def _import_ray():
    """Ray, or ``None`` when it is not installed (usage statistics off before the first import)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        return None
    return ray


#: The accepted forms of a Ray address (named by every error about one).
RAY_ADDRESS_FORMS = "'auto', 'ray://HOST:PORT' or 'HOST:PORT'"


def check_ray_address_form(address: str) -> str:
    """Check the form of a Ray address (``auto``, ``ray://host:port`` or ``host:port``) without contacting it.

    Imports nothing (neither Ray nor the network): callers check an address before any work starts.

    Returns:
        the address as given (stripped).

    Raises:
        ValueError: a malformed address, naming it and the accepted forms.
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"ray_address must be {RAY_ADDRESS_FORMS}, got {address!r}")
    address = address.strip()
    if address == "auto":
        return address
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in hostport:
        raise ValueError(f"ray_address must be {RAY_ADDRESS_FORMS}, got {address!r}")
    return address


def _require_ray(address: str, connect_timeout_s: float, without_address: str):
    """The ``ray`` module, once the address is well formed and reachable (bounded wait).

    Raises:
        ClusterError: Ray is not installed (the message says how to install it, or that leaving the address out
            will ``without_address``), or the address is unreachable.
    """
    check_ray_address(address, timeout_s=min(connect_timeout_s, 5.0))  # first: importing Ray takes seconds
    ray = _import_ray()
    if ray is None:
        raise ClusterError(f"ray_address={address!r} given but Ray is not installed; install the extra "
                           "(pip install 'greenaudio[cluster]', ray[default]==2.60.0) or leave the address out "
                           f"to {without_address}")
    return ray


def check_ray_address(address: str, timeout_s: float = 5.0) -> str:
    """Check a Ray address (``auto``, ``ray://host:port`` or ``host:port``) and that a Ray head answers there.

    The port must accept a TCP connection *and* answer as a gRPC server (Ray's GCS and its Ray Client server both
    are): the HTTP/2 client preface is sent and the server's first frame must be a SETTINGS frame. So a port that is
    open but held by something else (a web server, a silent socket) is refused within ``timeout_s`` instead of
    leaving ``ray.init`` retrying for minutes. With ``RAY_USE_TLS`` set the gRPC check is skipped (the handshake is
    TLS), and only the TCP connection is checked.

    Returns:
        the address as given (stripped).

    Raises:
        ValueError: a malformed address (the accepted forms are named).
        ClusterError: nothing listens there, or what listens is not a gRPC server (within ``timeout_s`` seconds in
            all; the message names the address and the bound).
    """
    address = check_ray_address_form(address)
    if address == "auto":
        return address
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout_s
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {address!r} ({exc}; waited at most {timeout_s:g} s): start "
                           "one with 'ray start --head' or give the head's address") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes"):
            return address
        problem = _grpc_probe(sock, deadline)
    if problem:
        raise ClusterError(f"the port at {address!r} is open but no Ray head answers there: {problem} (waited at "
                           f"most {timeout_s:g} s); give the address of a Ray head ('ray start --head' prints it)")
    return address


#: HTTP/2 client connection preface followed by an empty SETTINGS frame (RFC 9113, sections 3.4 and 6.5).
_HTTP2_CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _grpc_probe(sock: socket.socket, deadline: float) -> str | None:
    """``None`` if the peer answers the HTTP/2 preface with a SETTINGS frame before ``deadline``, else what it did.

    Every socket operation is bounded by the time left to ``deadline`` (``time.monotonic``).
    """
    def left() -> float:
        return max(deadline - time.monotonic(), 0.001)

    try:
        sock.settimeout(left())
        sock.sendall(_HTTP2_CLIENT_PREFACE)
        header = b""
        while len(header) < 9:  # a frame header: length (3 bytes), type (1), flags (1), stream id (4)
            if time.monotonic() >= deadline:
                return "it sent no gRPC (HTTP/2) answer in time"
            sock.settimeout(left())
            chunk = sock.recv(9 - len(header))
            if not chunk:
                return "it closed the connection without a gRPC (HTTP/2) answer"
            header += chunk
    except socket.timeout:
        return "it sent no gRPC (HTTP/2) answer in time"
    except OSError as exc:
        return f"the gRPC (HTTP/2) handshake failed ({exc})"
    if header[3] != 0x4 or int.from_bytes(header[5:9], "big") & 0x7FFFFFFF != 0:
        return f"its answer is not an HTTP/2 SETTINGS frame (first bytes {header!r})"
    return None


def _node_fits(node: Mapping[str, Any], num_cpus: float, num_gpus: float, memory_b: float | None) -> bool:
    res = node.get("Resources", {})
    return (res.get("CPU", 0) >= num_cpus and res.get("GPU", 0) >= num_gpus
            and (memory_b is None or res.get("memory", 0) >= memory_b))


def _connect(ray, address: str, connect_timeout_s: float) -> None:
    """``ray.init`` at ``address``, bounded by ``connect_timeout_s`` (in s) in all.

    The address is probed first (:func:`check_ray_address`, a gRPC handshake); then ``ray.init`` runs in a daemon
    thread that is abandoned at the deadline, since Ray's own retries can outlast any bound given to it.

    Raises:
        ClusterError: naming the address and the bound.
    """
    deadline = time.monotonic() + connect_timeout_s
    check_ray_address(address, timeout_s=min(connect_timeout_s, 5.0))
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(int(max(connect_timeout_s, 5))))
    outcome: dict[str, BaseException] = {}

    def init() -> None:
        try:
            ray.init(address=address, log_to_driver=False, namespace="greenaudio", ignore_reinit_error=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    import logging

    quiet = _DropRayThreadWarning()
    ray_logger = logging.getLogger("ray._private.worker")
    ray_logger.addFilter(quiet)
    try:
        thread = threading.Thread(target=init, name=f"greenaudio-ray-init {address}", daemon=True)
        thread.start()
        thread.join(max(deadline - time.monotonic(), 0.0))
    finally:
        ray_logger.removeFilter(quiet)
    if thread.is_alive():  # still retrying: abandoned (a daemon thread does not keep the process alive)
        raise ClusterError(f"could not connect to the Ray cluster at {address!r} within connect_timeout_s="
                           f"{connect_timeout_s:g} s: ray.init had not returned (abandoned); check that the "
                           "address is a Ray head's and that this machine can reach its nodes")
    exc = outcome.get("error")
    if isinstance(exc, (ConnectionError, RuntimeError, TimeoutError)):
        raise ClusterError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
    if exc is not None:
        raise exc


class _DropRayThreadWarning:
    """Logging filter: drops Ray's warning that ``ray.init`` outside the main thread sets no SIGTERM handler."""

    def filter(self, record) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _check_resources(ray, address: str, num_cpus: float, num_gpus: float, memory_b: float | None) -> None:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if any(_node_fits(n, num_cpus, num_gpus, memory_b) for n in nodes):
        return
    total = ray.cluster_resources()
    mem = "none" if memory_b is None else f"{memory_b / 1e9:.1f} GB"
    have = [{k: n.get("Resources", {}).get(k, 0) for k in ("CPU", "GPU")} for n in nodes]
    raise ClusterError(
        f"no node of the Ray cluster at {address!r} offers what one cell asks for (num_gpus={num_gpus:g}, "
        f"num_cpus={num_cpus:g}, memory={mem}); the cluster has {total.get('GPU', 0):g} GPU(s) and "
        f"{total.get('CPU', 0):g} CPU(s) in all, per node: {have}. Lower --num-cpus/--num-gpus or add nodes")


def _ray_run_tasks(ray, tasks: Sequence[Task], options: Callable[[Task], dict[str, Any]], on_result: OnResult,
                   on_failure: OnFailure) -> None:
    """Submit every task and collect the results on the driver: ``on_result(context, value)`` for each returned
    value, ``on_failure(context, reason, None)`` for a task that raised, whose worker died more than ``max_retries``
    times, or that still ran ``timeout_s`` seconds after submission (cancelled). Every wait is bounded (at most 10 s
    per round, 60 s per result)."""
    remote: dict[Callable, Any] = {}
    pending: dict[Any, tuple[Any, float]] = {}
    for task in tasks:
        if task.fn not in remote:
            remote[task.fn] = ray.remote(task.fn)
        ref = remote[task.fn].options(name=task.name, **options(task)).remote(*task.args)
        pending[ref] = (task.context, time.monotonic() + (task.timeout_s if task.timeout_s is not None else 1e9))
    while pending:
        soonest = min(deadline for _, deadline in pending.values())
        wait_s = max(0.0, min(10.0, soonest - time.monotonic()))
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait_s)
        for ref in ready:
            context, _ = pending.pop(ref)
            try:
                value = ray.get(ref, timeout=60)
            except Exception as exc:  # the task raised, or its worker died max_retries + 1 times
                on_failure(context, _ray_reason(exc), None)
                continue
            on_result(context, value)
        now = time.monotonic()
        for ref, (context, deadline) in list(pending.items()):
            if now >= deadline:
                pending.pop(ref)
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # finished meanwhile, or already gone: the cell is failed either way
                    pass
                on_failure(context, "TimeoutError: still running after the cell deadline; cancelled", None)


def _ray_reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[-1] if first else ''}"
