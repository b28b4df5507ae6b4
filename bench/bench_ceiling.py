"""Ideal-observer speed: particles per second at box 64 on paper-3x4, and the ceiling it gives.

For each SNR: N particles simulated in memory (as engine.scoring.ceiling.snr_sweep does), then
the posterior of every particle (coarse-to-fine grid, Fourier-space two-body likelihood) with
1 and with 2 worker threads. Printed next to the same run's baseline, the cost of one projector
image per particle (TwoBodyProjector.project with its CTF, batches of 256), so the ratio says
how many "images' worth" of work a posterior costs whatever the machine's load; and the
likelihood evaluations per band behind it. The compiled kernels (engine.scoring.ceiling_kernel:
SSU slice fused with the likelihood's sums, Fisher sums, in-block weights) release the GIL;
the per-level bookkeeping left in numpy holds it (about a third of the time), so 2 threads
give up to 2x when the second core is free, and one process per core always does.
Timings on a shared machine are noisy: best of 3.

Measured (box 64, 400 particles, 2 shared cores, load ~2.5): 1 thread 498 / 384 / 353
particles/s at SNR 0.1 / 1 / 10 (31-42 x one image), 2 threads 925 / 799 (the SNR 10 run met
the other jobs: 248); before the fused kernels 150-210 per thread (38-104 x one image).

    python bench/bench_ceiling.py [--box 64] [--n 400] [--snr 0.1,1,10]

With ``--dataset FOLDER`` it times engine.scoring.ceiling_dataset.dataset_ceiling on a real
dataset folder instead (``--n`` particles of it, 1 and 2 worker processes): wall time per
particle including reading the STAR file and the images and each worker's observer set-up,
and the ceiling it gives with its controls.

    python bench/bench_ceiling.py --dataset runs/paper-3x4-box64 --n 2000
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported: threads are ours

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import best_of  # noqa: E402
from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus  # noqa: E402
from engine.imaging.noise import add_white_noise, calibrate_noise, particle_mask_radius_px  # noqa: E402
from engine.imaging.projector import TwoBodyProjector  # noqa: E402
from engine.landscape.presets import load_preset  # noqa: E402
from engine.landscape.sampling import sample_conformations  # noqa: E402
from engine.scoring.ceiling import (IdealObserver, accuracy_ci, bayes_label_scores,  # noqa: E402
                                    posterior_mean_scores)
from engine.structure.object_model import build_ribosome_like  # noqa: E402
from engine.structure.rotations import uniform_euler_angles  # noqa: E402

OPTICS = CTFParams()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--box", type=int, default=64)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--snr", default="0.1,1,10")
    ap.add_argument("--dataset", help="time dataset_ceiling on this dataset folder")
    args = ap.parse_args(argv)
    if args.dataset:
        bench_dataset(args.dataset, args.n)
        return
    d, n = args.box, args.n
    obj = build_ribosome_like(d, seed=0)
    land = load_preset("paper-3x4")
    t = time.perf_counter()
    obs = IdealObserver(obj, land, optics=OPTICS)
    print(f"box {d}, {n} particles, paper-3x4; observer set up in {time.perf_counter() - t:.2f} s; "
          f"bands k_max {obs.bands}, levels {[lv.cells for lv in obs.grid.levels]} blocks per axis")
    proj = TwoBodyProjector(obj)
    rng = np.random.default_rng(0)
    sample = sample_conformations(land.sampling_grid(), n, rng)
    euler = uniform_euler_angles(n, rng)
    dfu, dfv, dfang = sample_defocus(n, rng)
    cc = np.stack([sample.cc1_deg, sample.cc2_deg], axis=1)

    def render():
        return np.concatenate([proj.project(euler[lo:lo + 256], cc[lo:lo + 256], None,
                                            ctf_2d(d, obj.apix_A, dfu[lo:lo + 256], dfv[lo:lo + 256],
                                                   dfang[lo:lo + 256], OPTICS)) for lo in range(0, n, 256)])

    clean = render()
    obs.posterior(clean[:32], 1.0, euler[:32], None, dfu[:32], dfv[:32], dfang[:32])  # compile or load kernels
    radius = particle_mask_radius_px(obj.diameter_A, obj.apix_A, d)
    for snr in (float(s) for s in args.snr.split(",")):
        base_s = best_of(render, 3) / n
        sigma = calibrate_noise([clean], snr, radius).sigma
        images = add_white_noise(clean, sigma, np.random.default_rng(1))
        line = []
        for workers in (1, 2):
            result = []
            t_s = best_of(lambda: result.append(obs.posterior(images, sigma, euler, None, dfu, dfv, dfang,
                                                                workers=workers)), 3) / n
            line.append(f"{workers} thread{'s' if workers > 1 else ''}: {1 / t_s:7.1f} particles/s "
                        f"({t_s / base_s:5.1f} x one image)")
        res = result[-1]
        ceiling = bayes_label_scores(res, sample.well)
        lo, hi = accuracy_ci(ceiling)
        metric = posterior_mean_scores(res, sample.well)
        evals = " ".join(f"k{k}:{e:.0f}" for k, e in zip(obs.bands, res.n_evaluations.mean(0)))
        print(f"SNR {snr:g}: " + "; ".join(line) + f"; baseline {1 / base_s:.0f} images/s")
        print(f"    ceiling accuracy {100 * ceiling.accuracy:.1f} % (95 % ci {100 * lo:.1f}-{100 * hi:.1f}), "
              f"metric on posterior mean {100 * metric.accuracy:.1f} %; evaluations per particle {evals}")


def bench_dataset(folder: str, n: int) -> None:
    """dataset_ceiling on ``n`` particles of ``folder`` with 1 and 2 worker processes: wall
    time, and CPU time of this process and its workers (on a loaded machine the CPU time is
    what a free core would take)."""
    import resource

    from engine.scoring.ceiling_dataset import dataset_ceiling
    from engine.scoring.ceiling_report import ceiling_table

    dataset_ceiling(folder, 32, workers=1)  # compile or load the kernels once, as a session would
    def cpu_s() -> float:
        return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                      resource.getrusage(resource.RUSAGE_CHILDREN)))

    for workers in (1, 2):
        t, cpu = time.perf_counter(), cpu_s()
        c = dataset_ceiling(folder, n, seed=0, workers=workers)
        wall_s, cpu = time.perf_counter() - t, cpu_s() - cpu
        m = len(c.subsample)
        print(f"{folder}: {m} particles, {workers} worker process{'es' if workers > 1 else ''}: {wall_s:.1f} s wall, "
              f"{1e3 * wall_s / m:.2f} ms per particle ({m / wall_s:.0f} particles/s); CPU {1e3 * cpu / m:.2f} ms "
              f"per particle (set-up included)")
    print(ceiling_table(c))


if __name__ == "__main__":
    main()
