"""Simulation speed, end to end as a user runs it, against relion_project in the same run.

For box 128 with 6,000 images and box 64 with 20,000 (the sizes of a first try), on 1 worker:
  - end to end, the whole ``python main.py simulate`` process (start-up, maps, calibration,
    images, metadata files), against Debian's ``relion_project --ctf --add_noise --white_noise
    SD`` 3.1 making the same number of CTF-modulated noisy images of the same map from our
    particles.star (one thread; its start-up counted too): targets >= 3x at box 128 and >= 2x
    at box 64;
  - the phases in this process: preparation (everything before the first image; target < 2 s at
    box 128 and under the time of 1,000 images) and the images phase against the bare floor
    (irfft2 + noise + MRC write of the same number of images in one loop; target >= 0.5);
  - the estimate shown before a run (engine.simulation.run.estimate_seconds) against the
    measured time (target within 25 %), also for 300,000 images at box 64 on all cores.
``--paper`` instead runs the paper's 3,000,000 particles at box 64 on 2 workers for real, in a
fresh temporary folder (~50 GB; free space is checked first), sampling the peak RSS (VmHWM) of
every process of the run: targets < 12 min and < 1.5 GB per process.

    python bench/bench_simulate.py              # ~2 minutes on 2 cores
    python bench/bench_simulate.py --paper      # ~10 minutes and 50 GB of disk
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cpus import available_cpus  # noqa: E402
from engine.landscape.presets import load_preset  # noqa: E402
from engine.simulation.plan import SimulationPlan  # noqa: E402
from engine.simulation.run import estimate_seconds, run_simulation  # noqa: E402


REPO = Path(__file__).resolve().parent.parent


def pipeline(plan: SimulationPlan, folder: Path, workers: int):
    """In this process: (prepare s, images-phase s, metadata s, total s, result)."""
    marks = {}

    def progress(p):
        marks.setdefault(p.stage, time.perf_counter())

    t = time.perf_counter()
    result = run_simulation(plan, folder, workers=workers, progress=progress)
    end = time.perf_counter()
    return (marks["images"] - t, marks["metadata"] - marks["images"], end - marks["metadata"], end - t, result)


def bare_floor(box: int, n: int, folder: Path) -> float:
    """Seconds of the floor of any simulator writing n images: irfft2 of a batch of spectra,
    white noise added, written to an MRC stack, in one loop (one thread)."""
    import scipy.fft

    from engine.formats.mrc_stack import MrcStackWriter

    rng = np.random.default_rng(0)
    spec = (rng.standard_normal((256, box, box // 2 + 1)) + 1j).astype(np.complex64)
    t = time.perf_counter()
    with MrcStackWriter(folder / "floor.mrcs", n, box, 1.0) as writer:
        for lo in range(0, n, 256):
            images = scipy.fft.irfft2(spec[: min(256, n - lo)], s=(box, box), workers=1)
            images += rng.standard_normal(images.shape, dtype=np.float32)
            writer.write(images)
    elapsed = time.perf_counter() - t
    (folder / "floor.mrcs").unlink()
    return elapsed


def cli_seconds(box: int, n: int, workers: int, folder: Path) -> float:
    """Wall time of the whole ``main.py simulate`` process, as a user starts it."""
    t = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "main.py"), "simulate", "--preset", "paper-3x4", "--n", str(n),
                    "--box", str(box), "--workers", str(workers), "--seed", "1", "--out", str(folder), "--quiet"],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def relion_seconds(folder: Path, sigma: float) -> float:
    """Wall time of relion_project making the dataset's images from its particles.star."""
    if not shutil.which("relion_project"):
        return float("nan")
    t = time.perf_counter()
    run = subprocess.run(["relion_project", "--i", "maps/well_01.mrc", "--ang", "particles.star", "--ctf",
                          "--add_noise", "--white_noise", f"{sigma:.6g}", "--o", "relion_out"],
                         cwd=folder, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if run.returncode != 0:
        print("relion_project failed:", run.stderr[-500:])
        return float("nan")
    return elapsed


def compare(box: int, n: int, root: Path, target: float) -> None:
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=box, seed=1)
    folder = root / f"b{box}"
    ours = min(cli_seconds(box, n, 1, folder if k == 0 else root / f"b{box}_{k}") for k in range(2))
    sigma = json.loads((folder / "manifest.json").read_text())["noise"]["sigma"]
    relion = min(relion_seconds(folder, sigma) for _ in range(2))
    prep, images, meta, total, _ = pipeline(plan, root / f"b{box}_phases", 1)
    floor = bare_floor(box, n, root)
    estimate = estimate_seconds(plan, 1)
    print(f"\nbox {box}, {n:,} images, 1 worker, SNR 1 (sigma {sigma:.4g}); best of 2 where timed twice")
    print(f"  end to end, whole process: ours {ours:6.2f} s   relion_project {relion:6.2f} s   "
          f"= {relion / ours:.2f} x RELION (target >= {target:g} x)")
    print(f"  phases in process: prepare {prep:.2f} s (= {100 * prep / (images * 1000 / n):.0f} % of 1,000 images' "
          f"time {1000 * images / n:.2f} s; target < 2 s, < 100 %), images {images:.2f} s = {n / images:.0f} images/s, "
          f"metadata files {meta:.2f} s")
    print(f"  images phase vs bare floor (irfft2 + noise + write, one loop: {floor:.2f} s = {n / floor:.0f} images/s): "
          f"{floor / images:.2f} (target >= 0.5)")
    print(f"  estimate {estimate:.1f} s vs measured end to end {ours:.1f} s: {100 * (estimate / ours - 1):+.0f} % "
          f"(target within 25 %)")
    for sub in root.iterdir():
        shutil.rmtree(sub, ignore_errors=True) if sub.is_dir() else sub.unlink()


def estimate_big(root: Path, cores: int, n: int = 300_000) -> None:
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=64, seed=1)
    measured = cli_seconds(64, n, cores, root / "big")
    estimate = estimate_seconds(plan, cores)
    print(f"\n{n:,} images at box 64 on {cores} workers: {measured:.1f} s end to end ({n / measured:.0f} images/s); "
          f"estimate {estimate:.1f} s: {100 * (estimate / measured - 1):+.0f} % (target within 25 %)")
    shutil.rmtree(root / "big", ignore_errors=True)


def _peak_rss_mb(pid) -> float:
    """Peak resident set size (VmHWM) of a process in MB, 0 if it is gone (not getrusage's
    ru_maxrss, which Linux carries over fork + exec from the parent)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def paper(root: Path, workers: int = 2, n: int = 3_000_000) -> None:
    """The paper's dataset for real: n particles at box 64 on ``workers`` workers, the peak RSS
    of every process of the run sampled twice a second."""
    need = n * 64 * 64 * 4 * 1.02 + 2e9
    free = shutil.disk_usage(root).free
    if free < need:
        print(f"\n--paper: {root} has {free / 1e9:.0f} GB free, the run needs {need / 1e9:.0f} GB: not run")
        return
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=64, seed=2)
    print(f"\n--paper: {n:,} particles at box 64 on {workers} workers in {root} ({free / 1e9:.0f} GB free)", flush=True)
    t = time.perf_counter()
    run = subprocess.Popen([sys.executable, str(REPO / "main.py"), "simulate", "--preset", "paper-3x4", "--n", str(n),
                            "--box", "64", "--workers", str(workers), "--seed", "2", "--out", str(root / "paper"),
                            "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    main = psutil.Process(run.pid)
    while run.poll() is None:
        try:
            for proc in [main, *main.children(recursive=True)]:
                peaks[proc.pid] = max(peaks.get(proc.pid, 0.0), _peak_rss_mb(proc.pid))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.5)
    elapsed = time.perf_counter() - t
    if run.returncode:
        print("  failed:", run.stderr.read()[-1000:])
        return
    estimate = estimate_seconds(plan, workers)
    main_mb = peaks.pop(run.pid, 0.0)
    worst = max(peaks.values(), default=0.0)
    print(f"  {elapsed / 60:.1f} min end to end ({n / elapsed:.0f} images/s; target < 12 min); estimate "
          f"{estimate / 60:.1f} min ({100 * (estimate / elapsed - 1):+.0f} %)")
    print(f"  peak RSS: main process {main_mb:.0f} MB, largest of {len(peaks)} worker processes {worst:.0f} MB "
          f"(target < 1500 MB each)")
    shutil.rmtree(root / "paper", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="only the paper's 3,000,000 particles (50 GB)")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args()
    cores = available_cpus()
    root = Path(tempfile.mkdtemp(prefix="elbench-bench-", dir=args.tmp))
    try:
        print(f"{cores} cores; scratch {root}")
        if args.paper:
            return paper(root)
        compare(128, 6_000, root, 3.0)
        compare(64, 20_000, root, 2.0)
        estimate_big(root, cores)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
