"""greenaudio.orchestration.executors: reaching a Ray address is bounded by ``connect_timeout_s``, also when the port is
open but held by something that is not a Ray head (a silent socket, an HTTP server, a gRPC server of another kind).

Every server here listens on 127.0.0.1 only. The calls run in a daemon thread (or a subprocess) with a hard limit, so
that an unbounded wait fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from greenaudio.measure import bench  # noqa: F401 - imported here, not inside the timed calls
from greenaudio.orchestration import executors as cluster
from greenaudio.orchestration.bench import run_bench_grid

CONNECT_TIMEOUT_S = 5.0
LIMIT_S = 20.0  # connect_timeout_s plus a generous margin for a loaded 2-core machine


class _LoopbackServer:
    """A TCP server on 127.0.0.1 that accepts connections and then stays silent, or answers with ``reply``."""

    def __init__(self, reply: bytes | None = None):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # kept open: the client sees an open, silent connection
            if self.reply is not None:
                try:
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def _run_bounded(fn, limit_s: float) -> tuple[BaseException | None, float]:
    """Run ``fn`` in a daemon thread; fail the test if it has not returned after ``limit_s`` seconds."""
    box: dict = {}

    def target():
        t0 = time.monotonic()
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            box["error"] = exc
        box["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"no answer within {limit_s} s (the wait is unbounded)"
    return box.get("error"), box["elapsed"]


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", b"\x00" * 64],
                         ids=["silent", "http", "zeros"])
def test_open_port_that_is_not_a_ray_head_fails_within_the_bound(tmp_path, reply):
    server = _LoopbackServer(reply)
    address = f"127.0.0.1:{server.port}"
    store = tmp_path / "g.sqlite"
    try:
        error, elapsed = _run_bounded(lambda: run_bench_grid(
            ["melgan"], ["small"], store=store, ray_address=address, connect_timeout_s=CONNECT_TIMEOUT_S), LIMIT_S)
    finally:
        server.close()
    assert isinstance(error, cluster.ClusterError), repr(error)
    assert elapsed < LIMIT_S
    assert address in str(error) and "5 s" in str(error)
    assert not store.exists()  # refused before any store was created


def test_check_ray_address_refuses_a_silent_port_within_its_timeout():
    server = _LoopbackServer(None)
    try:
        error, elapsed = _run_bounded(lambda: cluster.check_ray_address(f"ray://127.0.0.1:{server.port}",
                                                                         timeout_s=1.0), LIMIT_S)
    finally:
        server.close()
    assert isinstance(error, cluster.ClusterError), repr(error)
    assert 0.9 <= elapsed < 4.0
    assert f"ray://127.0.0.1:{server.port}" in str(error) and "1 s" in str(error)


def test_a_grpc_server_passes_the_probe():
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert cluster.check_ray_address(f"127.0.0.1:{port}", timeout_s=5.0) == f"127.0.0.1:{port}"
    finally:
        server.stop(0)


_GRPC_NOT_RAY = textwrap.dedent(
    """
    import json, sys, time
    from concurrent import futures
    import grpc
    from greenaudio.orchestration.bench import run_bench_grid
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))  # a gRPC server without Ray's services
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    import ray  # imported before the clock starts: the bound is on connecting, not on importing Ray
    t0 = time.monotonic()
    try:
        run_bench_grid(["melgan"], ["small"], store=sys.argv[1], ray_address=f"127.0.0.1:{port}",
                               connect_timeout_s=float(sys.argv[2]))
        out = {"error": None}
    except Exception as exc:
        out = {"error": type(exc).__name__, "message": str(exc), "address": f"127.0.0.1:{port}"}
    out["elapsed"] = time.monotonic() - t0
    print("RESULT " + json.dumps(out), flush=True)
    sys.stdout.flush()
    import os
    os._exit(0)  # the abandoned ray.init thread must not delay the exit
    """
)


@pytest.mark.slow
def test_grpc_server_that_is_not_ray_fails_within_the_bound(tmp_path):
    """The probe passes (it is a gRPC server); ``ray.init`` then retries: it is abandoned at the deadline."""
    pytest.importorskip("ray")
    pytest.importorskip("grpc")
    timeout = 4.0
    try:
        proc = subprocess.run([sys.executable, "-c", _GRPC_NOT_RAY, str(tmp_path / "g.sqlite"), str(timeout)],
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("run_bench_grid gave no answer within 120 s (the wait is unbounded)")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    assert out["error"] == "ClusterError", out
    assert out["elapsed"] < LIMIT_S
    assert out["address"] in out["message"] and "connect_timeout_s=4 s" in out["message"]
