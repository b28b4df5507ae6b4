"""Scoring speed: the paper's metric on 3,000,000 particles (target < 2 s on one core), the
recovered landscape, and matching 3,000,000 image names.

Prints wall times (best of several repeats) and, as a same-run baseline, the cost of the
unavoidable work: the squared distance of every particle to one well centre.

    python bench/bench_scoring.py
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the target says

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import best_of  # noqa: E402
from engine.formats.dataset import Dataset, ground_truth_from_arrays, image_names_for  # noqa: E402
from engine.formats.loaders import build_output  # noqa: E402
from engine.scoring.recovered_landscape import recovered_landscape  # noqa: E402
from engine.scoring.metric import score  # noqa: E402

N = 3_000_000


def main():
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 13, N)
    truth = np.column_stack([(labels - 1) % 4 * 8.0 - 12, (labels - 1) // 4 * 9.0 - 9])
    coords = np.column_stack([truth + rng.normal(0, 3.0, (N, 2)), rng.normal(size=(N, 6))])
    gt = ground_truth_from_arrays(labels, image_name=image_names_for(N, 10_000))
    ds = Dataset(gt)
    output = build_output("bench.npy", ds, coords, kind="generic")
    x, y = coords[:, 0].copy(), coords[:, 1].copy()
    base_s = best_of(lambda: (x - 1.0) ** 2 + (y - 2.0) ** 2)
    two_s = best_of(lambda: score(gt, output, dims=(0, 1)))
    all_s = best_of(lambda: score(gt, output, dims=None), 3)
    core_s = best_of(lambda: score(gt, output, dims=(0, 1), core_only=True, wells=range(1, 7)), 3)
    land_s = best_of(lambda: recovered_landscape(coords[:, :2], 0.596), 3)
    accuracy = score(gt, output).accuracy
    print(f"scoring {N:,} particles, 12 wells, one core")
    print(f"  baseline: squared distance to one centre  {base_s:7.3f} s")
    print(f"  score, dims (0, 1)                         {two_s:7.3f} s  ({two_s / base_s:.1f}x baseline; "
          f"target < 2 s; accuracy {100 * accuracy:.1f} %)")
    print(f"  score, all 8 dims                          {all_s:7.3f} s  ({all_s / base_s:.1f}x baseline)")
    print(f"  score, core only, wells 1-6                {core_s:7.3f} s  ({core_s / base_s:.1f}x baseline)")
    print(f"  recovered landscape (2D histogram, G)      {land_s:7.3f} s  ({land_s / base_s:.1f}x baseline)")
    order = rng.permutation(N)
    names = gt.image_name[order]
    t = time.perf_counter()
    index = ds.index_of_names(names)  # first call also builds the dataset's name index
    match_s = time.perf_counter() - t
    assert (index == order).all()
    print(f"matching {N:,} shuffled image names (incl. building the index) {match_s:7.3f} s")


if __name__ == "__main__":
    main()
