"""The Dask path for real: a distributed LocalCluster on loopback (worker processes, each
importing the package as a cluster node does) runs the same chunk
tasks and writes the same bytes as one local process; a stop request reaches running chunks."""
import os
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from engine.atomic_files import sha256_file
from engine.simulation.manifest import read_manifest
from engine.landscape.presets import load_preset
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.simulation.verify import verify_dataset


def plan():
    return SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=600, box_size=32, chunk_size=100,
                          seed=21, max_shift_A=6.0)


def stacks(folder) -> dict:
    folder = Path(folder)
    return {p.name: sha256_file(p) for p in sorted((folder / "particles").glob("*.mrcs"))}


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, as on a cluster: each imports the package itself."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster


def test_workers_are_separate_processes(cluster):
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_dask_cluster_writes_the_same_bytes(tmp_path, cluster):
    run_simulation(plan(), tmp_path / "local", workers=1)
    seen = []
    result = run_simulation(plan(), tmp_path / "dask", scheduler=cluster.scheduler_address, progress=seen.append)
    assert result.status == "complete" and result.executor == "dask"
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert stacks(tmp_path / "dask") == stacks(tmp_path / "local") and len(stacks(tmp_path / "local")) == 6
    assert (tmp_path / "dask/particles.star").read_bytes() == (tmp_path / "local/particles.star").read_bytes()
    assert seen[-1].particles_done == 600
    assert verify_dataset(tmp_path / "dask") == []


def test_dask_stop_then_local_resume(tmp_path, cluster):
    folder = tmp_path / "ds"
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        done = []
        result = run_simulation(plan(), folder, scheduler=client,
                                progress=done.append, should_stop=lambda: any(p.chunks_done for p in done))
    assert result.status == "cancelled"
    manifest = read_manifest(folder)
    assert 0 < sum(c["status"] == "done" for c in manifest["chunks"]) < 6
    assert not list(folder.rglob("*.tmp"))
    assert run_simulation(plan(), folder, workers=1, resume=True).status == "complete"
    run_simulation(plan(), tmp_path / "ref", workers=1)
    assert stacks(folder) == stacks(tmp_path / "ref")
