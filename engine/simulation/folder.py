"""The dataset folder before a run writes in it: new, left by a start that never wrote its
manifest, or a dataset to resume whose finished files must still be what the manifest says.

- :func:`check_new_folder`: a fresh run takes a missing or empty folder, or one that holds only
  what a run writes before its manifest (landscape.json, maps/, an empty particles/, temporary
  files): a run killed, or out of disk, while it wrote its maps. Anything else is refused.
- :func:`open_for_resume`: the manifest, its plan checked against this one, the software and
  CPU compared, temporary files removed, and every finished stack and map re-hashed: one whose
  sha256 differs from the manifest's (a damaged disk, a partial copy) is made again, saying so.

Example::

    took_over = check_new_folder(plan, "runs/ds1")          # SimulationError if it is not free
    manifest, maps = open_for_resume(plan, "runs/ds1", log=print)   # chunks to remake: "pending"
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.atomic_files import sha256_file
from engine.simulation import manifest as mf
from engine.simulation.errors import SimulationError
from engine.simulation.lock import LOCK_FILE
from engine.simulation.plan import SimulationPlan, check_disk_space, plan_from_dict, plan_to_dict

_TEMPORARY = re.compile(r"\..+\.tmp")                      # engine.atomic_files.temporary_path
_MAP = re.compile(r"(lsu|ssu|ssu_mask|well_\d{2,})\.mrc")  # what engine.simulation.run writes in maps/


def unfinished_start(folder) -> bool:
    """True when ``folder`` holds only what a run writes before its manifest.json (and so
    nobody's data): landscape.json, maps/*.mrc, an empty particles/, the lock, temporary files."""
    folder = Path(folder)
    if not folder.is_dir() or mf.manifest_path(folder).exists():
        return False
    allowed = {"maps": _MAP, "particles": None}
    for entry in folder.iterdir():
        if entry.name in (LOCK_FILE, "landscape.json") or _TEMPORARY.fullmatch(entry.name):
            continue
        if entry.name not in allowed or not entry.is_dir() or entry.is_symlink():
            return False
        pattern = allowed[entry.name]
        for item in entry.iterdir():
            if not (_TEMPORARY.fullmatch(item.name) or (pattern and pattern.fullmatch(item.name))):
                return False
    return True


def check_new_folder(plan: SimulationPlan, folder, log=None) -> bool:
    """Refuse a folder a fresh run may not write (a dataset, other files, not enough disk);
    True when it takes over the files of a start that never wrote its manifest (their
    temporary files are removed; the rest is written again)."""
    folder = Path(folder)
    if mf.manifest_path(folder).exists():
        raise SimulationError(f"{folder} already holds a dataset (manifest.json); resume it "
                              "(--resume) or choose another folder")
    took_over = False
    if folder.exists():
        if not folder.is_dir():
            raise SimulationError(f"{folder} exists and is not a folder; choose a new or empty folder")
        names = {p.name for p in folder.iterdir()} - {LOCK_FILE}
        if names and not unfinished_start(folder):
            raise SimulationError(f"{folder} exists and is not an empty folder; choose a new or empty folder")
        took_over = bool(names)
    check_disk_space(plan, folder)
    if took_over:
        _remove_temporary_files(folder)
        if log is not None:
            log(f"{folder}: taking over the files of a run that stopped before it wrote manifest.json")
    return took_over


def _remove_temporary_files(folder: Path) -> None:
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)  # temporary files of writes that were interrupted (stacks, manifest, maps)


def open_for_resume(plan: SimulationPlan, folder, log) -> tuple[dict, list[str]]:
    """(manifest, maps to write) of the dataset in ``folder``, ready to finish with ``plan``:
    chunks whose stack is missing or differs from its sha256 set back to "pending"; the maps
    missing or differing from their sha256. SimulationError if the plan differs."""
    folder = Path(folder)
    manifest = mf.read_manifest(folder)
    stored = plan_from_dict(manifest["plan"], str(mf.manifest_path(folder)))
    if stored.content_key != plan.content_key:
        mine, theirs = plan_to_dict(plan), manifest["plan"]
        differ = sorted(k for k in set(mine) | set(theirs) if k != "output_folder" and mine.get(k) != theirs.get(k))
        raise SimulationError(f"{folder}: the plan differs from the one in manifest.json (fields {differ}); "
                              "resume with the same plan or start a new folder")
    _compare_software(manifest, log)
    _remove_temporary_files(folder)
    for row in mf.done_chunks(manifest):
        problem = file_problem(folder, row["file"], row["sha256"], row["bytes"])
        if problem:
            log(f"chunk {row['index']}: {row['file']} {problem}; making it again")
            row.update(status="pending", bytes=None, sha256=None)
    maps_to_write = []
    for name in map_names(plan):
        problem = file_problem(folder, name, manifest.get("maps", {}).get(name))
        if problem:
            log(f"{name} {problem}; writing it again")
            maps_to_write.append(name)
    done_bytes = sum(row["bytes"] for row in mf.done_chunks(manifest))
    check_disk_space(plan, folder, already_written_bytes=done_bytes)
    log(f"resuming: {len(mf.done_chunks(manifest))} of {plan.n_chunks} chunks already done")
    return manifest, maps_to_write


def map_names(plan: SimulationPlan) -> list[str]:
    """The maps/ files of a dataset, as the manifest names them: the two bodies, the SSU mask and
    the full map at each well centre."""
    wells = [f"maps/well_{i:02d}.mrc" for i in range(1, len(plan.landscape.wells) + 1)]
    return ["maps/lsu.mrc", "maps/ssu.mrc", "maps/ssu_mask.mrc", *wells]


def file_problem(folder: Path, name: str, sha256: str | None, size: int | None = None) -> str | None:
    """What is wrong with ``folder/name`` against its manifest record, or None: missing, the
    wrong size, or bytes whose sha256 differs (None: no hash recorded, presence is enough)."""
    path = Path(folder) / name
    if not path.is_file():
        return "is missing"
    if size is not None and path.stat().st_size != size:
        return f"has {path.stat().st_size:,} bytes, not the {size:,} of manifest.json"
    if sha256 is not None and sha256_file(path) != sha256:
        return "does not match its sha256 in manifest.json (damaged or changed since it was written)"
    return None


def _compare_software(manifest: dict, log) -> None:
    now = mf.software_versions()
    if manifest["software"].get("numpy") != now.get("numpy"):
        log("warning: numpy version differs from the run that started this dataset; bytes may differ")
    before = manifest["software"].get("cpu")
    if before != now["cpu"]:
        log(f"warning: this CPU ({_cpu_text(now['cpu'])}) differs from the one that started this dataset "
            f"({_cpu_text(before)}); new chunks may differ from an uninterrupted run in the last bits "
            "(images agree to float32 rounding)")


def _cpu_text(cpu) -> str:
    if not isinstance(cpu, dict):
        return "not recorded"
    return f"{cpu.get('model') or cpu.get('machine') or '?'}; {' '.join(cpu.get('simd') or []) or 'no SIMD flags'}"
