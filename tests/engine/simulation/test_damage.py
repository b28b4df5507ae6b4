"""Damage a dataset can take and come back from: a stack or map whose bytes changed (same size),
a start killed before its manifest, a full disk; and maps with the same bytes in every run."""
import errno
import subprocess
import time
from pathlib import Path

import pytest

from engine.atomic_files import sha256_file
from engine.landscape.presets import load_preset
from engine.simulation.errors import SimulationError
from engine.simulation.manifest import read_manifest
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.simulation.verify import verify_dataset


def small_plan(**kw):
    return SimulationPlan(**{**dict(landscape=load_preset("paper-3x4"), n_particles=300, box_size=32, chunk_size=100,
                                    seed=3, max_shift_A=5.0), **kw})


def hashes(folder) -> dict:
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".lock")}


def zero_4k(path, offset=8192) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(4096))


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """sha256 of every file of an uninterrupted run: what each repair must give back."""
    return made_hashes(tmp_path_factory.mktemp("made") / "ds")


def made_hashes(folder) -> dict:
    run_simulation(small_plan(), folder, workers=1)
    return hashes(folder)


def test_resume_remakes_a_stack_damaged_in_place_saying_so(tmp_path, made):
    """The issue's case: 4 KB zeroed inside a finished stack, same size; resume used to say
    'complete'. Now it re-hashes, names the stack, remakes it byte-identical."""
    folder = tmp_path / "ds"
    run_simulation(small_plan(), folder, workers=1)
    stack = folder / "particles/particles_00001.mrcs"
    size = stack.stat().st_size
    zero_4k(stack)
    assert stack.stat().st_size == size
    assert verify_dataset(folder) == ["particles/particles_00001.mrcs: does not match its sha256 in manifest.json "
                                      "(damaged or changed since it was written)"]
    logs = []
    assert run_simulation(small_plan(), folder, workers=1, resume=True, log=logs.append).status == "complete"
    assert "chunk 1: particles/particles_00001.mrcs does not match its sha256 in manifest.json (damaged or changed " \
           "since it was written); making it again" in logs
    assert "resuming: 2 of 3 chunks already done" in logs
    assert hashes(folder) == made and verify_dataset(folder) == []


def test_maps_have_the_same_bytes_in_every_run_and_their_sha256_is_recorded(tmp_path, made):
    time.sleep(1.1)  # mrcfile's label held the time to the second
    folder = tmp_path / "ds"
    run_simulation(small_plan(), folder, workers=1)
    mine = {k: v for k, v in hashes(folder).items() if k.startswith("maps/")}
    assert len(mine) == 15 and mine == {k: v for k, v in made.items() if k.startswith("maps/")}
    assert read_manifest(folder)["maps"] == mine
    well = folder / "maps/well_03.mrc"
    zero_4k(well)
    assert verify_dataset(folder) == ["maps/well_03.mrc: does not match its sha256 in manifest.json "
                                      "(damaged or changed since it was written)"]
    logs = []
    run_simulation(small_plan(), folder, workers=1, resume=True, log=logs.append)
    assert any(line.startswith("maps/well_03.mrc does not match its sha256") for line in logs)
    assert hashes(folder) == made and verify_dataset(folder) == []


def test_a_start_killed_before_its_manifest_is_taken_over(tmp_path, made):
    """What a kill (or a full disk) while the maps are written leaves: landscape.json, some maps,
    a temporary map, an empty particles/. A fresh run (or --resume with the plan) takes it over."""
    for resume in (False, True):
        folder = tmp_path / f"killed_{resume}"
        (folder / "maps").mkdir(parents=True)
        (folder / "particles").mkdir()
        (folder / ".lock").write_text("4242\n")
        (folder / "landscape.json").write_text("{}")
        (folder / "maps/lsu.mrc").write_bytes(b"half a map")
        (folder / "maps/.ssu.mrc.4242.abcd1234.tmp").write_bytes(b"\0" * 100)
        logs = []
        assert run_simulation(small_plan(), folder, workers=1, resume=resume, log=logs.append).status == "complete"
        assert f"{folder}: taking over the files of a run that stopped before it wrote manifest.json" in logs
        assert hashes(folder) == made and verify_dataset(folder) == []
    other = tmp_path / "other"
    (other / "maps").mkdir(parents=True)
    (other / "maps/notes.txt").write_text("mine")
    with pytest.raises(SimulationError, match="exists and is not an empty folder"):
        run_simulation(small_plan(), other, workers=1)
    assert (other / "maps/notes.txt").read_text() == "mine"


def test_a_full_disk_names_the_stack(tmp_path, monkeypatch):
    """ENOSPC injected at the stack's write call (a write names no file): the error names it."""
    from engine.formats import mrc_stack

    def full(self, images):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mrc_stack.MrcStackWriter, "write", full)
    folder = tmp_path / "ds"
    with pytest.raises(OSError) as info:
        run_simulation(small_plan(), folder, workers=1)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(folder / "particles/particles_00000.mrcs")
    manifest = read_manifest(folder)
    assert manifest["status"] == "failed" and "No space left on device" in manifest["error"]
    assert not list(folder.rglob("*.tmp"))


def test_a_full_tmpfs_names_the_file(tmp_path, monkeypatch):
    """A real full disk: a 2 MB tmpfs (root only), the disk check bypassed so the writes hit it."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        monkeypatch.setattr("engine.simulation.folder.check_disk_space", lambda *a, **k: 0)
        monkeypatch.setattr("engine.simulation.run.check_disk_space", lambda *a, **k: 0)
        plan = small_plan(n_particles=600, box_size=48, chunk_size=100)  # 5.5 MB of stacks
        with pytest.raises(OSError) as info:
            run_simulation(plan, mount / "ds", workers=1)
        assert info.value.errno == errno.ENOSPC and str(mount / "ds") in str(info.value.filename)
        assert not list(mount.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
