"""``manifest.json``: the record of a dataset (DESIGN.md section 5).

It holds every plan parameter, the derived values (box, pixel size, object), the seed
streams, software versions and the CPU (model, SIMD extensions), the noise calibration (SNR definition, mask radius, sigma), the
chunk table (index, first particle, count, file, status "pending"/"done", bytes, sha256), the
maps/ files with their sha256 ("maps") and, once complete, the metadata files with their
sha256 ("files"); engine.simulation.verify checks all of them. It is rewritten atomically (temporary
file, fsync, rename) after every chunk, so after a crash it lists exactly the finished stacks.

:func:`new_manifest` makes the record of a prepared run (status "prepared", every chunk pending).

Example::

    write_manifest("dataset/", new_manifest(plan, ctx, noise))
    m = read_manifest("dataset/")
    m["status"], m["noise"]["sigma"], [c["sha256"] for c in m["chunks"] if c["status"] == "done"]
"""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from engine.atomic_files import write_text_atomic
from engine.formats.dataset_geometry import (MANIFEST_FILE, MANIFEST_FORMAT_VERSION, MANIFEST_KIND,  # noqa: F401
                                             MANIFEST_MAX_BYTES, DatasetGeometryError, read_manifest_json)
from engine.formats.image_names import stack_file_name

# the manifest's name, identity and size limit have one owner, the formats' reader
FORMAT_VERSION, KIND = MANIFEST_FORMAT_VERSION, MANIFEST_KIND


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and the problem."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_fp16", "neon", "asimd", "sve")


def cpu_summary() -> dict:
    """The CPU that makes the bytes: {"machine", "model", "simd"} (simd: the vector extensions
    of SIMD_FLAGS it has, from /proc/cpuinfo on Linux). numpy picks SIMD code paths by CPU, so
    datasets are byte-identical only on one CPU family (see engine.simulation.run)."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
                elif not key and model and flags:
                    break  # the first processor's block is enough
    except OSError:
        pass
    model = model or platform.processor()
    return {"machine": platform.machine(), "model": model, "simd": [f for f in SIMD_FLAGS if f in flags]}


def software_versions() -> dict:
    versions = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu_summary()}
    for package in ("elbench", "numpy", "scipy", "numba", "mrcfile", "starfile", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def manifest_path(folder) -> Path:
    return Path(folder) / MANIFEST_FILE


def read_manifest(folder) -> dict:
    """The manifest of the dataset in ``folder``; ManifestError names the file (a FIFO, a
    device or a file over MANIFEST_MAX_BYTES is refused before a byte is read)."""
    path = manifest_path(folder)
    try:
        data = read_manifest_json(folder, missing_hint=f"is {folder} a dataset folder?")
    except DatasetGeometryError as exc:
        raise ManifestError(str(exc)) from None
    for key in ("plan", "chunks", "noise", "status"):
        if key not in data:
            raise ManifestError(f"{path}: missing field {key!r}")
    return data


def write_manifest(folder, manifest: dict) -> None:
    manifest["updated"] = now_iso()
    write_text_atomic(manifest_path(folder), json.dumps(manifest, indent=1) + "\n")


def chunk_table(plan) -> list[dict]:
    """The pending chunk table of a plan."""
    rows = []
    for k in range(plan.n_chunks):
        first, stop = plan.chunk_range(k)
        rows.append({"index": k, "first": first, "count": stop - first, "file": stack_file_name(k),
                     "status": "pending", "bytes": None, "sha256": None})
    return rows


def done_chunks(manifest: dict) -> list[dict]:
    return [c for c in manifest["chunks"] if c["status"] == "done"]


def particles_done(manifest: dict) -> int:
    return sum(c["count"] for c in done_chunks(manifest))


def new_manifest(plan, ctx, noise) -> dict:
    """The manifest of a prepared run of ``plan`` (engine.simulation.plan.SimulationPlan):
    ``ctx`` its SimulationContext (box, pixel size, object), ``noise`` its NoiseCalibration."""
    from dataclasses import asdict

    from engine.simulation.chunks import BATCH_SIZE, CALIBRATION_STREAM, CHUNK_STREAM, UID_STREAM
    from engine.simulation.plan import plan_to_dict

    obj = ctx.object
    return {
        "format_version": FORMAT_VERSION, "kind": KIND, "status": "prepared",
        "created": now_iso(), "updated": now_iso(), "software": software_versions(),
        "plan": plan_to_dict(plan),
        "derived": {"box_size": ctx.box_size, "apix_A": ctx.apix_A, "n_particles": plan.n_particles,
                    "n_chunks": plan.n_chunks, "batch_size": BATCH_SIZE,
                    "object": {"name": obj.name, "diameter_A": obj.diameter_A, "pivot_A": list(map(float, obj.pivot_A)),
                               "axis1": list(map(float, obj.axis1)), "axis2": list(map(float, obj.axis2))}},
        "seeds": {"seed": plan.seed,
                  "chunk": f"SeedSequence(seed, spawn_key=({CHUNK_STREAM}, k)).spawn(2) -> [metadata, noise]",
                  "calibration": f"SeedSequence(seed, spawn_key=({CALIBRATION_STREAM},))",
                  "cryosparc_uid": f"SeedSequence(seed, spawn_key=({UID_STREAM}, k))"},
        "noise": asdict(noise),
        "chunks": chunk_table(plan),
    }
