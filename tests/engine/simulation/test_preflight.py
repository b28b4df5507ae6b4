"""Checks a run makes before it allocates anything: the shift limit at the effective pixel size,
disk and memory (saying what would fit), the worker count, the scheduler address, plan files."""
import json
import os
import threading
import time

import pytest

from engine.landscape.presets import load_preset
from engine.simulation.errors import SimulationError
from engine.simulation.plan import NotEnoughDiskError, ObjectSpec, PlanError, SimulationPlan, load_plan, plan_from_dict
from engine.simulation.run import run_simulation

ABSURD_SHIFT = {"format_version": 1, "landscape_preset": "paper-3x4", "n_particles": 10, "box_size": 32, "snr": 1.0,
                "chunk_size": 10, "max_shift_A": 1000000.0}


def small_plan(**kw):
    return SimulationPlan(**{**dict(landscape=load_preset("paper-3x4"), n_particles=100, box_size=32, chunk_size=100,
                                    seed=5), **kw})


def no_object(monkeypatch):
    """Fail the test if the run builds the object (the heavy allocation the checks must precede)."""
    def refuse(plan):
        raise AssertionError("the object was built before the checks")
    monkeypatch.setattr("engine.simulation.context.build_object", refuse)


def test_an_absurd_shift_is_refused_at_the_pixel_size_the_box_gets():
    """The issue's plan: no apix_A, so the built-in object's pixel size (11.837 A at box 32)."""
    with pytest.raises(PlanError) as info:
        plan_from_dict(ABSURD_SHIFT, "plan.json")
    assert str(info.value).startswith("plan.json: max_shift_A: must be below a quarter of the box (94.696 A")
    assert plan_from_dict({**ABSURD_SHIFT, "max_shift_A": 90.0}).max_shift_A == 90.0


def test_a_shift_is_refused_at_the_pixel_size_of_user_maps(tmp_path, monkeypatch):
    import numpy as np

    from engine.structure.maps import write_map

    for name in ("lsu", "ssu"):
        write_map(tmp_path / f"{name}.mrc", np.zeros((32, 32, 32), np.float32), 2.0)  # a 64 A box
    spec = ObjectSpec(kind="two-maps", lsu_map=str(tmp_path / "lsu.mrc"), ssu_map=str(tmp_path / "ssu.mrc"),
                      pivot_A=(0, 0, 0), axis1=(0, 1, 0), axis2=(0, 0, 1))
    plan = small_plan(box_size=None, object=spec, max_shift_A=20.0)
    no_object(monkeypatch)
    with pytest.raises(PlanError, match=r"max_shift_A: must be below a quarter of the box \(16 A"):
        run_simulation(plan, tmp_path / "ds", workers=1)
    assert not (tmp_path / "ds").exists()


def test_memory_is_checked_before_the_object_is_built_and_says_what_fits(tmp_path, monkeypatch):
    from engine.simulation import resources
    from engine.simulation.resources import NotEnoughMemoryError

    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 8 * 1000**3)
    no_object(monkeypatch)
    with pytest.raises(NotEnoughMemoryError) as info:
        run_simulation(small_plan(box_size=1024), tmp_path / "ds", workers=1)
    message = str(info.value)
    assert message.startswith("box_size: box 1024 needs about ") and "but 8.0 GB is available" in message
    fits = int(message.split("; box ")[1].split()[0])
    assert 128 <= fits < 1024 and resources.run_memory_bytes(fits, 1) <= 8 * 1000**3
    assert not (tmp_path / "ds").exists()


def test_memory_counts_every_worker_and_names_the_workers_that_fit():
    from engine.simulation import resources
    from engine.simulation.resources import NotEnoughMemoryError, check_memory

    plan = small_plan(box_size=256)
    one = resources.run_memory_bytes(256, 1)
    with pytest.raises(NotEnoughMemoryError, match="--workers 2 would fit"):
        check_memory(plan, workers=6, available_bytes=resources.run_memory_bytes(256, 2) + 1)
    assert check_memory(plan, workers=1, available_bytes=one) == one
    # the estimate covers the projector's two padded transforms (pad 2: 8 (2D)^3 bytes at the end)
    assert one > 12 * 256**3 + 8 * 512**3


def test_disk_is_checked_before_the_object_and_says_how_many_particles_fit(tmp_path, monkeypatch):
    no_object(monkeypatch)
    plan = small_plan(n_particles=10**9, box_size=1024, chunk_size=10**6)
    with pytest.raises(NotEnoughDiskError) as info:
        run_simulation(plan, tmp_path / "ds", workers=1)
    fits = int(str(info.value).split("about ")[1].split()[0].replace(",", ""))
    assert 0 <= fits < 10**9 and "particles at this box would fit" in str(info.value)


def test_workers_are_capped_at_the_chunks_and_the_cpus_saying_so(tmp_path):
    from engine.simulation.resources import workers_for

    assert workers_for(6, n_pending=1, cpus=2) == (1, "workers: 6 asked, 1 used (1 chunk to make, 2 CPUs this job may use)")
    assert workers_for(6, n_pending=40, cpus=2)[0] == 2
    assert workers_for(None, n_pending=1, cpus=8) == (1, None)  # the default is not a request: no note
    assert workers_for(2, n_pending=40, cpus=2) == (2, None)
    logs = []
    result = run_simulation(small_plan(), tmp_path / "ds", workers=6, log=logs.append)
    assert result.status == "complete" and result.executor == "serial"  # one chunk: no pool at all
    assert any(line.startswith("workers: 6 asked, 1 used (1 chunk to make") for line in logs), logs


@pytest.mark.parametrize("address", ["notaurl", "tcp://", "http://host:8786", "tcp://host:99999", "host:port"])
def test_a_malformed_scheduler_address_is_refused_at_once(tmp_path, monkeypatch, address):
    no_object(monkeypatch)
    t0 = time.monotonic()
    with pytest.raises(SimulationError) as info:
        run_simulation(small_plan(), tmp_path / "ds", scheduler=address)
    assert time.monotonic() - t0 < 2 and repr(address) in str(info.value) and "tcp://HOST:PORT" in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_an_unreachable_scheduler_is_refused_within_the_connect_timeout(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from engine import dask_client
    from engine.simulation import executors

    monkeypatch.setattr(dask_client, "CONNECT_TIMEOUT_S", 2)
    t0 = time.monotonic()
    with pytest.raises(SimulationError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 within 2 s"):
        executors.make_executor(scheduler="tcp://127.0.0.1:9")
    assert time.monotonic() - t0 < 15


def test_plan_files_that_are_not_plans_are_refused_naming_the_file(tmp_path):
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_error_of(load_plan, fifo)), daemon=True)
    reader.start()
    reader.join(10)
    assert outcome and outcome[0].startswith(f"{fifo}: is a named pipe (FIFO), not a regular file")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(100 * 1024**2)
    assert "more than the 16.8 MB that a plan file may be" in _error_of(load_plan, big)
    assert _error_of(load_plan, tmp_path).startswith(f"{tmp_path}: is a folder")


def test_a_landscape_without_wells_is_refused_naming_the_file(tmp_path):
    from engine.landscape.io import landscape_to_dict

    empty = {**landscape_to_dict(load_preset("paper-3x4")), "wells": []}
    (tmp_path / "land.json").write_text(json.dumps(empty))
    inline = tmp_path / "inline.json"
    inline.write_text(json.dumps({"format_version": 1, "landscape": empty}))
    assert _error_of(load_plan, inline) == f"{inline}: landscape: has no wells (ground-truth labels need at least one)"
    by_file = tmp_path / "by_file.json"
    by_file.write_text(json.dumps({"format_version": 1, "landscape_file": "land.json"}))
    message = _error_of(load_plan, by_file)
    assert message.startswith(f"{by_file}: landscape_file: {tmp_path / 'land.json'}: ") and "well" in message


def _error_of(function, *args) -> str:
    try:
        function(*args)
    except (PlanError, ValueError) as exc:
        return str(exc)
    raise AssertionError(f"{function.__name__}{args} did not refuse")
