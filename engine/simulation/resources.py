"""What a run needs before it allocates anything: disk for the dataset, memory for the object,
its projector and one batch in every process, and the worker count this job may use.

These checks are arithmetic on the plan (and a map header), so a run that cannot fit is refused
in milliseconds, saying what would fit, instead of being killed by the kernel while it builds a
20 GB object. Memory per process (D: box in voxels, N = pad * D the projector's padded grid):
the three float32 maps (12 D^3 bytes), then the larger of building the two padded transforms
(the padded grid, its FFT and the re-laid copy of one body while the other is kept: about
12 N^3 bytes) and imaging (both transforms, 8 N^3, and one batch of images with their CTFs and
spectra).

Example::

    estimate_disk_bytes(plan)                 # bytes the dataset will take
    check_disk_space(plan, "out/")            # NotEnoughDiskError with the numbers and what fits
    check_memory(plan, workers=2)             # NotEnoughMemoryError: needs, available, what fits
    workers, note = workers_for(6, n_pending=1)   # (1, "workers: 6 asked, 1 used (...)")
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from engine.input_files import format_bytes  # noqa: F401  (importable from here too)
from engine.simulation.errors import PlanError

# Bytes per particle outside the image stacks (STAR row ~190, poses 96, ctf 36, cryoSPARC
# row ~190, ground truth ~250 with the image name), measured on small datasets, rounded up.
METADATA_BYTES_PER_PARTICLE = 800
MRC_HEADER_BYTES = 1024
PROJECTOR_PAD = 2            # engine.imaging.projector.TwoBodyProjector's default
BATCH_IMAGES = 256           # engine.simulation.chunks.BATCH_SIZE (not imported: chunks is heavy)
# One image in flight: its CTF (float32) and spectra (complex64) on the half grid, the image,
# its noise and the float64 copy the stack writer sums. With the constants below the estimate
# of a serial box-192 run is 1.14 GB; its measured peak resident size was 1.14 GB.
BATCH_BYTES_PER_PIXEL = 32
# Python, numpy, numba and the compiled kernel in each process, before any array.
PROCESS_BASE_BYTES = 300 * 1000**2


def format_duration(seconds: float | None) -> str:
    """``seconds`` as "42 s", "3 min 05 s" or "2 h 07 min"; "--" for None or not finite."""
    if seconds is None or not math.isfinite(seconds):
        return "--"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class NotEnoughDiskError(PlanError):
    """The dataset would not fit on the disk; carries the numbers."""

    def __init__(self, folder: str, needed_bytes: int, free_bytes: int, fitting_particles: int | None = None):
        self.folder, self.needed_bytes, self.free_bytes = folder, needed_bytes, free_bytes
        fits = f"; about {fitting_particles:,} particles at this box would fit" if fitting_particles else ""
        super().__init__("n_particles", f"the dataset needs {format_bytes(needed_bytes)} but {folder} "
                         f"has only {format_bytes(free_bytes)} free ({needed_bytes:,} > {free_bytes:,} bytes){fits}")


class NotEnoughMemoryError(PlanError):
    """The object, its projector and a batch would not fit in memory; carries the numbers."""

    def __init__(self, problem: str, needed_bytes: int, available_bytes: int):
        self.needed_bytes, self.available_bytes = needed_bytes, available_bytes
        super().__init__("box_size", problem)


# --- disk ----------------------------------------------------------------------------------
def _maps_bytes(plan) -> int:
    d = plan.effective_box_size()
    return (3 + len(plan.landscape.wells)) * (d**3 * 4 + MRC_HEADER_BYTES)


def estimate_disk_bytes(plan, n_wells_maps: bool = True) -> int:
    """Bytes the finished dataset takes: float32 stacks (one MRC header per chunk), the
    metadata files, and the maps (LSU, SSU, mask and one per well)."""
    d = plan.effective_box_size()
    stacks = plan.n_particles * d * d * 4 + plan.n_chunks * MRC_HEADER_BYTES
    maps = _maps_bytes(plan) if n_wells_maps else 3 * (d**3 * 4 + MRC_HEADER_BYTES)
    return stacks + plan.n_particles * METADATA_BYTES_PER_PARTICLE + maps


def free_disk_bytes(folder) -> int:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_disk_space(plan, folder, already_written_bytes: int = 0) -> int:
    """Raise NotEnoughDiskError (with the particles that would fit) unless the rest of the
    dataset fits; returns the bytes needed."""
    needed = max(0, estimate_disk_bytes(plan) - already_written_bytes)
    free = free_disk_bytes(folder)
    if needed > free:
        d = plan.effective_box_size()
        per_particle = d * d * 4 + METADATA_BYTES_PER_PARTICLE + MRC_HEADER_BYTES / plan.chunk_size
        fitting = int((free + already_written_bytes - _maps_bytes(plan)) // per_particle)
        raise NotEnoughDiskError(str(folder), needed, free, max(0, fitting))
    return needed


# --- memory --------------------------------------------------------------------------------
def process_memory_bytes(box_size: int, pad: int = PROJECTOR_PAD) -> int:
    """Peak bytes of one process that builds the object and its projector and makes a batch."""
    d, n = int(box_size), pad * int(box_size)
    building = 12 * n**3  # the padded grid and its FFT, or one body's bricks kept while the other is made
    imaging = 8 * n**3 + BATCH_IMAGES * d * d * BATCH_BYTES_PER_PIXEL  # both bodies' bricks and a batch
    return PROCESS_BASE_BYTES + 12 * d**3 + max(building, imaging)


def run_memory_bytes(box_size: int, workers: int) -> int:
    """Peak bytes of a run: this process (it builds the object for the maps and the noise
    calibration) and, with ``workers`` > 1, each worker process (each builds its own)."""
    per_process = process_memory_bytes(box_size)
    return per_process * (1 if workers <= 1 else 1 + workers)


def available_memory_bytes() -> int:
    """Memory this job may still use: the smaller of the system's MemAvailable and what is
    left of its cgroup's limit (a batch job's allocation, a container)."""
    values = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    values.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = Path("/sys/fs/cgroup", usage_file).read_text().strip()
            if limit.isdigit() and int(limit) < 2**60:
                values.append(max(0, int(limit) - int(usage)))
            break
        except (OSError, ValueError):
            continue
    if not values:
        try:
            values.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 2**62  # no way to know: do not refuse
    return min(values)


def check_memory(plan, workers: int, available_bytes: int | None = None) -> int:
    """Raise NotEnoughMemoryError unless a run of ``plan`` on ``workers`` local processes fits
    in the memory this job may use, naming the box (or worker count) that would fit; returns
    the bytes needed. Nothing is allocated."""
    available = available_memory_bytes() if available_bytes is None else available_bytes
    box = plan.effective_box_size()
    needed = run_memory_bytes(box, workers)
    if needed <= available:
        return needed
    procs = "this process" if workers <= 1 else f"this process and each of {workers} workers"
    fits = _what_fits(plan, box, workers, available)
    raise NotEnoughMemoryError(
        f"box {box} needs about {format_bytes(needed)} of memory (the object and its padded transforms "
        f"in {procs}, plus a batch of {BATCH_IMAGES} images) but {format_bytes(available)} is available; {fits}",
        needed, available)


def _what_fits(plan, box: int, workers: int, available: int) -> str:
    if workers > 1 and run_memory_bytes(box, 1) <= available:
        most = max(w for w in range(1, workers) if run_memory_bytes(box, w) <= available)
        return f"--workers {most} would fit" if most > 1 else "--workers 1 would fit"
    if plan.object.kind != "ribosome-like":
        return "the maps fix the box: bin them to a smaller box"
    boxes = [d for d in range(16, box, 2) if run_memory_bytes(d, 1) <= available]
    if not boxes:
        return "not even box 16 would fit"
    with_workers = [d for d in boxes if run_memory_bytes(d, workers) <= available] if workers > 1 else []
    best = f"box {boxes[-1]} would fit with --workers 1"
    return best + (f", box {with_workers[-1]} with {workers} workers" if with_workers else "")


# --- workers -------------------------------------------------------------------------------
def workers_for(requested: int | None, n_pending: int, cpus: int | None = None) -> tuple[int, str | None]:
    """(workers to start, a note when a requested count was capped): at most the chunks left to
    make and the CPUs this job may use (engine.simulation.executors.available_cpus)."""
    from engine.cpus import available_cpus

    cpus = cpus or available_cpus()
    wanted = requested or cpus
    used = max(1, min(wanted, cpus, n_pending))
    if requested is None or used == requested:
        return used, None
    chunks = f"{n_pending} chunk{'s' if n_pending != 1 else ''} to make"
    return used, (f"workers: {requested} asked, {used} used ({chunks}, {cpus} CPU{'s' if cpus != 1 else ''} "
                  "this job may use)")
