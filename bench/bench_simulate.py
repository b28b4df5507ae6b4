"""Simulation speed: the whole pipeline against the projector alone and against RELION.

For box 64 and 128 it prints images/s of
  - the projector alone (TwoBodyProjector.project, no CTF, no noise, no file; one process),
  - the whole pipeline (sample, project, CTF, noise, write, sha256, manifest) on 1 worker and
    on all cores, images phase and end to end (maps, calibration and metadata files included),
  - Debian's relion_project 3.1 making the same number of CTF-modulated noisy images of the
    same map from our particles.star (--ctf --add_noise --white_noise SD; single-threaded),
and the ratios, all measured in this run. ``--big`` adds, each in a fresh process so that
nothing else counts, the 300,000-particle box-64 run on all cores (peak RSS, VmHWM, of the
main process and of the largest worker) and the metadata files of the paper's 3,000,000 particles
(they need no images), then the time for 3,000,000 (target: < 30 min on 2 cores, RSS < 2 GB).

    python bench/bench_simulate.py              # ~3 minutes on 2 cores
    python bench/bench_simulate.py --big        # + ~10 minutes, 5 GB of disk in a temp folder
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.landscape.presets import load_preset  # noqa: E402
from engine.imaging.projector import TwoBodyProjector  # noqa: E402
from engine.structure.rotations import uniform_euler_angles  # noqa: E402
from engine.simulation.objects import build_object  # noqa: E402
from engine.simulation.plan import SimulationPlan  # noqa: E402
from engine.simulation.run import run_simulation  # noqa: E402


def projector_rate(plan: SimulationPlan, n: int) -> float:
    proj = TwoBodyProjector(build_object(plan))
    rng = np.random.default_rng(0)
    euler = uniform_euler_angles(n, rng)
    cc = rng.uniform(-10, 10, (n, 2))
    proj.project(euler[:64], cc[:64])  # compile / warm up
    t = time.perf_counter()
    for lo in range(0, n, 256):
        proj.project(euler[lo:lo + 256], cc[lo:lo + 256])
    return n / (time.perf_counter() - t)


def pipeline(plan: SimulationPlan, folder: Path, workers: int):
    """(images/s of the images phase, end-to-end s, result, prepare s, metadata files s); the
    main process's peak RSS before the metadata files goes into ``pipeline.rss_images_mb``."""
    marks = {}

    pipeline.worker_peak_mb = 0.0

    def progress(p):
        if p.stage == "images" and "start" not in marks:
            marks["start"] = time.perf_counter()
        if p.stage == "images":
            for child in psutil.Process().children():
                pipeline.worker_peak_mb = max(pipeline.worker_peak_mb, _peak_rss_mb(child.pid))
        if p.stage == "metadata":
            marks["images_done"] = time.perf_counter()
            pipeline.rss_images_mb = _peak_rss_mb()

    t = time.perf_counter()
    result = run_simulation(plan, folder, workers=workers, progress=progress)
    total = time.perf_counter() - t
    images_s = marks["images_done"] - marks["start"]
    return plan.n_particles / images_s, total, result, marks["start"] - t, time.perf_counter() - marks["images_done"]


def relion_rate(folder: Path, sigma: float, n: int) -> float:
    if not shutil.which("relion_project"):
        return float("nan")
    out = folder / "relion_out"
    t = time.perf_counter()
    run = subprocess.run(["relion_project", "--i", "maps/well_01.mrc", "--ang", "particles.star", "--ctf",
                          "--add_noise", "--white_noise", f"{sigma:.6g}", "--o", str(out.name)],
                         cwd=folder, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if run.returncode != 0:
        print("relion_project failed:", run.stderr[-500:])
        return float("nan")
    return n / elapsed


def compare(box: int, n: int, root: Path, cores: int) -> None:
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=box, chunk_size=4000, seed=1)
    proj = projector_rate(plan, min(n, 4000))
    one, one_total, result, _, _ = pipeline(plan, root / f"b{box}_1", 1)
    many, many_total, _, prep, final = pipeline(plan, root / f"b{box}_{cores}", cores)
    relion = relion_rate(root / f"b{box}_1", result.noise.sigma, n)
    print(f"\nbox {box}, {n:,} images, {plan.effective_apix_A():.3g} A/px, SNR 1 (sigma {result.noise.sigma:.4g})")
    print(f"  projector alone, 1 process          {proj:9.0f} images/s")
    print(f"  pipeline, 1 worker (images phase)   {one:9.0f} images/s   = {one / proj:.2f} x projector alone")
    print(f"  pipeline, {cores} workers (images phase)  {many:9.0f} images/s   = {many / proj:.2f} x projector alone")
    print(f"  pipeline, {cores} workers end to end      {n / many_total:9.0f} images/s   "
          f"(prepare {prep:.1f} s, metadata files {final:.1f} s)")
    print(f"  relion_project --ctf --add_noise    {relion:9.0f} images/s   (1 thread)")
    print(f"  ours / RELION: 1 worker {one / relion:.1f} x, {cores} workers {many / relion:.1f} x")
    for sub in root.glob(f"b{box}_*"):
        shutil.rmtree(sub, ignore_errors=True)


def _peak_rss_mb(pid="self") -> float:
    """Peak resident set size (VmHWM) of a process in MB, 0 if it is gone.

    Not getrusage's ru_maxrss: Linux carries that over fork + exec, so a process started from
    a big parent (this bench, or a run's main process starting its workers) reports the
    parent's size as its own peak."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def big_run(root: Path, cores: int, n: int = 300_000) -> None:
    """In a fresh process (so nothing else counts): n particles at box 64."""
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=64, chunk_size=10_000, seed=2)
    rate, total, _, prep, final = pipeline(plan, root / "big", cores)
    self_mb, child_mb = _peak_rss_mb(), pipeline.worker_peak_mb
    images_mb = pipeline.rss_images_mb
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, \
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{n:,} particles, box 64, {cores} workers: {total:.0f} s end to end; images phase "
          f"{n / rate:.0f} s = {rate:.0f} images/s; prepare {prep:.1f} s; metadata files {final:.1f} s")
    print(f"  peak RSS: main process {images_mb:.0f} MB while images are made, {self_mb:.0f} MB writing the "
          f"metadata files (workers gone); largest worker {child_mb:.0f} MB; images phase together "
          f"<= {images_mb + cores * child_mb:.0f} MB (getrusage ru_maxrss: self {usage[0]:.0f}, "
          f"children {usage[1]:.0f} MB, inherited across fork + exec)")
    print(f"RESULT {prep} {n / rate} {images_mb} {child_mb}")
    shutil.rmtree(root / "big", ignore_errors=True)


def metadata_run(root: Path, n: int = 3_000_000) -> None:
    """In a fresh process: the final metadata files of the paper's 3,000,000 particles (they
    need no images: metadata is regenerated from the seed), for their real time and memory."""
    from engine.simulation.metadata import write_metadata_files

    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=64, chunk_size=10_000, seed=2)
    folder = root / f"meta{n}"
    folder.mkdir()
    t = time.perf_counter()
    write_metadata_files(plan, folder)
    elapsed = time.perf_counter() - t
    sizes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    self_mb = _peak_rss_mb()
    print(f"metadata files of {n:,} particles: {elapsed:.0f} s, {sizes / 1e9:.2f} GB, peak RSS {self_mb:.0f} MB")
    print(f"RESULT {elapsed} {self_mb}")
    shutil.rmtree(folder, ignore_errors=True)


def big(root: Path, cores: int) -> None:
    def fresh(mode):
        run = subprocess.run([sys.executable, __file__, "--_mode", mode, "--tmp", str(root)],
                             capture_output=True, text=True)
        print(run.stdout.replace("RESULT", "").rstrip() if run.returncode else
              "\n".join(line for line in run.stdout.splitlines() if not line.startswith("RESULT")))
        if run.returncode:
            print(run.stderr[-2000:])
            return None
        return [float(x) for x in run.stdout.split("RESULT")[-1].split()]

    print()
    prep, images_s, main_mb, worker_mb = fresh("big")
    meta_s, meta_mb = fresh("meta3m")
    minutes = (prep + 10 * images_s + meta_s) / 60
    peak = max(main_mb + cores * worker_mb, meta_mb)
    print(f"3,000,000 particles at box 64 on {cores} cores: {minutes:.1f} min (prepare + 10 x images phase + "
          f"measured metadata files; target < 30 min); peak RSS {peak:.0f} MB = max(images phase: main "
          f"{main_mb:.0f} + {cores} x worker {worker_mb:.0f}; metadata files {meta_mb:.0f}) (target < 2000 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the 300,000-particle run")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    parser.add_argument("--metadata", type=int, metavar="N", default=None,
                        help="only the metadata files of N particles (time, peak RSS), then exit")
    parser.add_argument("--_mode", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="elbench-bench-", dir=args.tmp))
    try:
        if args._mode == "big":
            return big_run(root, cores)
        if args._mode == "meta3m":
            return metadata_run(root)
        if args.metadata:
            return metadata_run(root, args.metadata)
        print(f"{cores} cores; scratch {root}")
        compare(64, 40_000, root, cores)
        compare(128, 8_000, root, cores)
        if args.big:
            big(root, cores)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
