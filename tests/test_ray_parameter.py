"""The chapters' ``RAY_ADDRESS`` parameter: routing through greenaudio.orchestration, without Ray.

The cluster entry points are replaced by fakes that record their calls, so these tests check *where* the work goes
(and that bad addresses stop it before any work), not the cluster itself (tests/test_orchestration_grid.py runs a
real one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from greenaudio import data
from greenaudio.orchestration import bench as grid_bench, executors, zoo
from greenaudio.orchestration import export as artefacts
from greenaudio.measure import QUICK_PROTOCOL
from greenaudio.chapters import cost

ROOT = Path(__file__).resolve().parents[1]
FORMS = "'auto', 'ray://HOST:PORT' or 'HOST:PORT'"


def _record(model: str, status: str = "ok", error: str | None = None) -> zoo.ZooCellRecord:
    return zoo.ZooCellRecord("quick", model, "small", f"{model}-small-0123456789", "pk", "cpu", status=status,
                                 error=error, wall_s=2.5)


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The CLI's export path sets the protocol's torch threads (as a fresh ``greenaudio`` process would); restore
    them so that later tests in this process see the thread count they set."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _no_work(*args, **kwargs):
    raise AssertionError("work started: this must not be called")


@pytest.fixture
def no_local_work(monkeypatch):
    """Loading the corpus or training here fails the test (the Ray path leaves both to the workers)."""
    monkeypatch.setattr(data, "load_espeak_speech", _no_work)
    monkeypatch.setattr(zoo, "train_configuration", _no_work)


@pytest.fixture
def fake_grid(monkeypatch):
    """``zoo.run_zoo_grid`` replaced: hifigan is already in the store (skipped), melgan is computed now."""
    calls = []

    def fake(models, sizes, **kwargs):
        calls.append({"models": models, "sizes": sizes, **kwargs})
        stored, fresh = _record("hifigan"), _record("melgan", *calls[-1].pop("_outcome", ("ok", None)))
        kwargs["on_skipped"](stored)
        kwargs["on_record"](fresh)
        return zoo.ZooGridResult(computed=(fresh.key,), skipped=(stored.key,), failed=(), reused_runs=(),
                                     records=(fresh, stored), runner="ray", store=str(kwargs.get("store", "s")))

    monkeypatch.setattr(zoo, "run_zoo_grid", fake)
    return calls


# -- zoo.train_zoo -------------------------------------------------------------------------------------------------
def test_train_zoo_with_an_address_runs_the_cells_on_the_cluster(fake_grid, no_local_work, tmp_path):
    done = []
    runs = zoo.train_zoo("quick", models=["melgan", "hifigan"], sizes=["small"], root=tmp_path, progress=False,
                         on_done=done.append, ray_address=" auto ",
                         cluster_options={"store": tmp_path / "g.sqlite", "num_gpus": 1})
    (call,) = fake_grid
    assert call["ray_address"] == "auto"  # stripped
    assert (call["models"], call["sizes"], call["protocol"].name) == (["melgan", "hifigan"], ["small"], "quick")
    # the run folders are the sequential path's: <root>/<protocol>/<run>, attempts beside them
    assert call["shared_dir"] == tmp_path and call["runs_dir"] == tmp_path
    assert call["store"] == tmp_path / "g.sqlite" and call["num_gpus"] == 1 and call["progress"] is False
    # on_done: every configuration once, the stored one too, with the driver's view of its run folder
    assert [r.model for r in done] == ["hifigan", "melgan"]
    assert done[1].run_dir == tmp_path.resolve() / "quick" / "melgan-small-0123456789"
    assert done[1].result.runner is None and done[1].result.key == _record("melgan").key and done[1].wall_s == 2.5
    assert [r.model for r in runs] == ["melgan", "hifigan"]  # the grid's order


def test_train_zoo_reports_a_configuration_that_failed_on_the_cluster(monkeypatch, fake_grid, no_local_work,
                                                                      tmp_path):
    real = zoo.run_zoo_grid
    monkeypatch.setattr(zoo, "run_zoo_grid",
                        lambda *a, **k: real(*a, **k, _outcome=("failed", "RuntimeError: out of memory")))
    done = []
    with pytest.raises(RuntimeError, match=r"1 configuration\(s\) failed on the cluster at '127\.0\.0\.1:6379'.*"
                                           r"melgan/small: RuntimeError: out of memory"):
        zoo.train_zoo("quick", models=["melgan", "hifigan"], sizes=["small"], root=tmp_path, on_done=done.append,
                      ray_address="127.0.0.1:6379")
    assert [r.model for r in done] == ["hifigan"]  # the good one was still handed over


@pytest.mark.parametrize("address", ["", "localhost", "http://127.0.0.1:6379", "ray://head:port", "h:0"])
def test_a_malformed_address_stops_train_zoo_before_any_work(address, no_local_work, monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "run_zoo_grid", _no_work)
    with pytest.raises(ValueError, match=f"ray_address must be {FORMS}, got {address!r}"):
        zoo.train_zoo("quick", models=["melgan"], sizes=["small"], root=tmp_path, ray_address=address)
    assert list(tmp_path.iterdir()) == []


def test_cluster_options_are_checked_before_any_work(no_local_work, monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "run_zoo_grid", _no_work)
    with pytest.raises(ValueError, match=r"cluster_options \['store'\] given without a ray_address"):
        zoo.train_zoo("quick", root=tmp_path, cluster_options={"store": "x.sqlite"})
    with pytest.raises(ValueError, match=r"cluster_options \['gpus', 'shared_dir'\] are not valid; valid: .*"
                                         r"'max_retries'.*'num_gpus'.*'store'"):
        zoo.train_zoo("quick", root=tmp_path, ray_address="auto", cluster_options={"gpus": 1, "shared_dir": "/x"})


def test_cluster_options_are_the_grid_arguments_train_zoo_does_not_set():
    import inspect

    own = {"models", "sizes", "protocol", "shared_dir", "runs_dir", "ray_address", "cache_dir", "on_record",
           "on_skipped", "progress"}
    assert set(zoo.CLUSTER_OPTIONS) == set(inspect.signature(zoo.run_zoo_grid).parameters) - own


def test_train_zoo_without_an_address_never_imports_ray(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` would raise ImportError
    monkeypatch.setattr(executors, "_import_ray", _no_work)
    monkeypatch.setattr(zoo, "run_zoo_grid", _no_work)
    monkeypatch.setattr(data, "load_espeak_speech", lambda split, cache_dir=None: f"{split} set")
    trained = []

    def fake_train(name, size, protocol, train_set, test_set, *, root, progress):
        trained.append((name, size, protocol.name, train_set, test_set, root))
        return zoo.ZooRun(name, size, Path(root) / name, result=None)

    monkeypatch.setattr(zoo, "train_configuration", fake_train)
    runs = zoo.train_zoo("quick", models=["melgan", "hifigan"], sizes=["small"], root=tmp_path, progress=False)
    assert trained == [("melgan", "small", "quick", "train set", "test set", tmp_path),
                       ("hifigan", "small", "quick", "train set", "test set", tmp_path)]
    assert [r.model for r in runs] == ["melgan", "hifigan"]


# -- the cost chapter's grid -----------------------------------------------------------------------------------------
class _Grid:
    def __init__(self, n):
        self.records, self.computed, self.skipped, self.failed = (None,) * n, (None,) * n, (), ()


def test_run_grid_twice_passes_the_address_to_the_grid_runner(tmp_path):
    calls = []

    def runner(models, sizes, **kw):
        calls.append((models, sizes, kw))
        return _Grid(len(calls))

    first, table = cost.run_grid_twice(["melgan"], ["small"], grid_runner=runner, store=tmp_path / "b.sqlite",
                                       device="cpu", protocol=QUICK_PROTOCOL, energy_mode="estimated",
                                       ray_address="ray://h:10001")
    assert len(calls) == 2
    for models, sizes, kw in calls:
        assert (models, sizes, kw["ray_address"], kw["devices"], kw["protocol"], kw["energy_mode"], kw["progress"]) \
            == (["melgan"], ["small"], "ray://h:10001", ["cpu"], QUICK_PROTOCOL, "estimated", False)
    assert calls[0][2]["store"] == calls[1][2]["store"] == tmp_path / "b.sqlite"  # one store, both calls
    assert not (tmp_path / "b.sqlite").exists()  # the chapter opens nothing itself: the runner does
    assert len(first.records) == 1 and list(table.cells) == [1, 2]


def test_run_grid_twice_without_an_address_adds_none(tmp_path):
    calls = []
    cost.run_grid_twice(["melgan"], ["small"], grid_runner=lambda models, sizes, **kw: calls.append(kw) or _Grid(1),
                        store=tmp_path / "b.sqlite", device="cpu", protocol=QUICK_PROTOCOL)
    assert len(calls) == 2 and all("ray_address" not in kw for kw in calls)


@pytest.mark.parametrize("address", ["localhost", "tcp://h:1", ""])
def test_a_malformed_address_stops_the_benchmark_before_the_store_exists(address, monkeypatch, tmp_path):
    monkeypatch.setattr(executors, "_import_ray", _no_work)
    store = tmp_path / "b.sqlite"
    with pytest.raises(ValueError, match=f"ray_address must be {FORMS}, got {address!r}"):
        cost.run_grid_twice(["melgan"], ["small"], grid_runner=grid_bench.run_bench_grid, store=store, device="cpu",
                            protocol=QUICK_PROTOCOL, ray_address=address)
    with pytest.raises(ValueError, match=f"ray_address must be {FORMS}, got {address!r}"):
        grid_bench.run_bench_grid(["melgan"], ["small"], store=store, protocol=QUICK_PROTOCOL, ray_address=address)
    assert not store.exists()


def test_run_bench_grid_rejects_a_bad_grid_before_ray_or_the_store(monkeypatch, tmp_path):
    monkeypatch.setattr(executors, "_import_ray", _no_work)
    store = tmp_path / "b.sqlite"
    with pytest.raises(ValueError, match=r"unknown model 'melgann'; valid models: \['melgan', 'hifigan'"):
        grid_bench.run_bench_grid(["melgann"], ["small"], store=store, protocol=QUICK_PROTOCOL, ray_address="auto")
    with pytest.raises(ValueError, match="num_cpus"):
        grid_bench.run_bench_grid(["melgan"], ["small"], store=store, protocol=QUICK_PROTOCOL, ray_address="auto",
                               num_cpus=0)
    assert not store.exists()


# -- the notebooks pass the parameter ----------------------------------------------------------------------------
@pytest.mark.parametrize("chapter, call", [("05_2_quality", "zoo.train_zoo("),
                                           ("05_1_cost_benchmark", "cost.run_grid_twice(")])
def test_chapters_declare_ray_address_and_pass_it(chapter, call):
    import ast

    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "RAY_ADDRESS = None" in params.source.splitlines()
    passed = []
    for cell in nb.cells:
        if cell.cell_type != "code" or call not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) + "(" == call:
                passed += [ast.unparse(k.value) for k in node.keywords if k.arg == "ray_address"]
    assert passed == ["RAY_ADDRESS"]
    prose = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    if "`RAY_ADDRESS`" not in prose:  # the chapter keeps to the science and links the pages that say how
        assert "../book/running-full-protocol" in prose or "../book/shipped-data" in prose
        prose = " ".join((ROOT / "book" / "running-full-protocol.md").read_text().split())
        assert f"papermill notebooks/{chapter}.ipynb out.ipynb -p QUICK False -p RAY_ADDRESS auto" in prose
    assert "`RAY_ADDRESS`" in prose and "-p RAY_ADDRESS auto" in prose


# -- greenaudio train --export --ray-address: the driver's export --------------------------------------------------
def test_cli_export_on_ray_exports_computed_and_stored_cells_from_the_driver(monkeypatch, fake_grid, tmp_path):
    from greenaudio.cli import main

    exported = []
    monkeypatch.setattr(artefacts, "build_context", lambda protocol, root: ("ctx", protocol, root))
    monkeypatch.setattr(artefacts, "export_ground_truth", lambda ctx: exported.append(("ground truth", ctx)))
    monkeypatch.setattr(artefacts, "export_configuration",
                        lambda run_dir, ctx: exported.append((run_dir, ctx)) or {"config": Path(run_dir).name,
                                                                                 "d_stft": 1.0, "pesq_wb": 1.5})
    shared, runs = tmp_path / "shared", tmp_path / "runs"
    assert main(["train", "--protocol", "quick", "--models", "melgan", "hifigan", "--sizes", "small", "--export",
                 "--export-root", str(tmp_path / "out"), "--ray-address", "auto", "--shared-dir", str(shared),
                 "--store", str(tmp_path / "g.sqlite")]) == 0
    ctx = ("ctx", "quick", str(tmp_path / "out"))
    assert exported == [("ground truth", ctx),
                        (shared.resolve() / "runs" / "quick" / "hifigan-small-0123456789", ctx),  # already stored
                        (shared.resolve() / "runs" / "quick" / "melgan-small-0123456789", ctx)]
    # --runs: the run folders of the sequential `greenaudio train --runs`
    exported.clear()
    assert main(["train", "--protocol", "quick", "--models", "melgan", "--sizes", "small", "--export", "--runs",
                 str(runs), "--ray-address", "auto", "--shared-dir", str(shared),
                 "--store", str(tmp_path / "g.sqlite")]) == 0
    assert fake_grid[-1]["runs_dir"] == str(runs)
    assert exported[1][0] == runs.resolve() / "quick" / "hifigan-small-0123456789"


def test_cli_export_with_a_malformed_address_fails_before_the_export_context(monkeypatch, capsys, tmp_path):
    from greenaudio.cli import main

    monkeypatch.setattr(artefacts, "build_context", _no_work)
    assert main(["train", "--protocol", "quick", "--models", "melgan", "--sizes", "small", "--export",
                 "--ray-address", "localhost", "--shared-dir", str(tmp_path)]) == 2
    assert f"ray_address must be {FORMS}, got 'localhost'" in capsys.readouterr().err


# -- the grids' Ray driver, with an in-process stand-in for Ray ------------------------------------------------------
class _Ref:
    def __init__(self, fn, args):
        try:
            self.value, self.error = fn(*args), None
        except Exception as exc:  # re-raised by get(), as Ray raises a task's exception
            self.value, self.error = None, exc


class _FakeRay:
    """The part of Ray's API the driver uses, running each task at once in this process (a one-node "cluster")."""

    def __init__(self):
        self.submitted, self.options, self.shut = [], [], 0

    def init(self, **kwargs):
        self.address = kwargs["address"]

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": 2.0, "GPU": 0.0, "memory": 8e9}}]

    def cluster_resources(self):
        return {"CPU": 2.0}

    def remote(self, fn):
        fake = self

        class _Task:
            def options(self, name, **options):
                fake.options.append(options)
                return self

            def remote(self, *args):
                fake.submitted.append(args[0])
                return _Ref(fn, args)

        return _Task()

    def wait(self, refs, num_returns, timeout):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref, timeout):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def shutdown(self):
        self.shut += 1


def test_run_bench_grid_stores_worker_records_and_measures_nothing_twice(monkeypatch, tmp_path):
    from greenaudio.measure import Protocol, ResultStore

    fake = _FakeRay()
    monkeypatch.setattr(executors, "_import_ray", lambda: fake)
    bench = Protocol(n_clips=1, clip_duration_s=0.25, warmup=0, repeats=1, flop_clip_s=0.25, idle_window_s=0.0,
                     threads=1)
    kw = dict(protocol=bench, energy_mode="estimated", with_flops=False)
    first = grid_bench.run_bench_grid(["melgan"], ["small"], store=tmp_path / "ray.sqlite", ray_address="auto", **kw)
    assert (len(first.computed), len(first.skipped), len(first.failed), fake.shut) == (1, 0, 0, 1)
    assert fake.options == [{"num_cpus": 1, "num_gpus": 0, "max_retries": 2, "retry_exceptions": False}]
    assert fake.submitted == [("melgan", "small", "cpu", "float32", 0)]
    again = grid_bench.run_bench_grid(["melgan"], ["small"], store=tmp_path / "ray.sqlite", ray_address="auto", **kw)
    assert (len(again.computed), len(again.skipped)) == (0, 1)  # the worker found its key in the driver's list
    assert again.records == first.records
    # the record is the one run_grid makes here: the same key, and the same counts
    here = grid_bench.run_bench_grid(["melgan"], ["small"], store=tmp_path / "here.sqlite", progress=False, **kw)
    (r,), (h,) = first.records, here.records
    assert r.key == h.key and r.params == h.params and r.ok and r.energy_method == h.energy_method
    with ResultStore(tmp_path / "ray.sqlite") as st:
        assert len(st.records()) == 1


def test_run_bench_grid_stores_a_task_that_died_as_a_failed_cell(monkeypatch, tmp_path):
    from greenaudio.measure import Protocol

    fake = _FakeRay()

    def died(ref, timeout):
        raise RuntimeError("The worker died unexpectedly (simulated)")

    fake.get = died
    monkeypatch.setattr(executors, "_import_ray", lambda: fake)
    monkeypatch.setattr(grid_bench, "_bench_task", lambda *args: {"key": None, "record": None})
    result = grid_bench.run_bench_grid(["melgan"], ["small"], store=tmp_path / "ray.sqlite", ray_address="auto",
                                    protocol=Protocol(n_clips=1, clip_duration_s=0.25), energy_mode="estimated")
    (rec,) = result.records
    assert rec.status == "failed" and rec.error == "RuntimeError: The worker died unexpectedly (simulated)"
    assert result.failed == result.computed == (rec.key,) and fake.shut == 1


def test_run_zoo_grid_on_ray_stores_the_workers_records_and_their_failures(monkeypatch, tmp_path):
    fake = _FakeRay()
    monkeypatch.setattr(executors, "_import_ray", lambda: fake)

    def worker(spec, runner="sequential"):
        if spec.model == "hifigan":
            raise RuntimeError("CUDA out of memory (simulated)")
        return zoo.ZooCellRecord(*spec.key, training="trained", steps=1, runner=runner, attempts=1).to_dict()

    monkeypatch.setattr(zoo, "run_cell", worker)
    seen, skipped = [], []
    kw = dict(protocol="quick", shared_dir=tmp_path / "shared", store=tmp_path / "g.sqlite", ray_address="auto",
              progress=False, on_record=seen.append, on_skipped=skipped.append)
    result = zoo.run_zoo_grid(["melgan", "hifigan"], ["small"], **kw)
    assert fake.options == [{"num_cpus": 2, "num_gpus": 0, "max_retries": 2, "retry_exceptions": False,
                             "memory": 2_000_000_000}] * 2  # the quick protocol's DEFAULT_RESOURCES
    got = {r.model: r for r in result.records}
    assert got["melgan"].ok and got["melgan"].runner == "ray" and got["melgan"].steps == 1
    assert got["hifigan"].status == "failed" and got["hifigan"].error == "RuntimeError: CUDA out of memory (simulated)"
    assert result.runner == "ray" and len(result.failed) == 1 and [r.model for r in seen] == ["melgan", "hifigan"]
    assert fake.shut == 1 and skipped == []
    again = zoo.run_zoo_grid(["melgan", "hifigan"], ["small"], **kw)
    assert again.computed == () and sorted(r.model for r in skipped) == ["hifigan", "melgan"]
    assert len(fake.options) == 2  # nothing submitted the second time
