"""The dataset's well maps (paper-3x4: twelve 128^3 conformations of the built-in object).

Prints the time of all twelve with ``composite_maps`` (compiled cubic spline, one prefilter),
against scipy's ``map_coordinates`` on the same coefficients, one well at a time, measured in
the same run, and the largest difference between the two (they are the same interpolant).

    python bench/bench_well_maps.py [--box 128]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.landscape.presets import load_preset  # noqa: E402
from engine.structure.object_model import build_ribosome_like, composite_maps, spline_coefficients  # noqa: E402
from engine.structure.rotations import conformation_matrix  # noqa: E402


def scipy_composite(obj, cc1, cc2):
    d = obj.ssu.shape[0]
    rc = conformation_matrix(obj.axis1, obj.axis2, cc1, cc2)[0]
    coeffs = spline_coefficients(obj.ssu)
    axis = (np.arange(d) - d // 2) * obj.apix_A
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    out = np.empty_like(obj.ssu)
    for i in range(d):
        pts = np.column_stack([xx.ravel(), yy.ravel(), np.full(xx.size, axis[i])])
        src = (pts - obj.pivot_A) @ rc + obj.pivot_A
        out[i] = ndimage.map_coordinates(coeffs, src[:, ::-1].T / obj.apix_A + d // 2, order=3,
                                         mode="grid-constant", prefilter=False).reshape(d, d)
    return obj.lsu + out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", type=int, default=128)
    box = parser.parse_args().box
    obj = build_ribosome_like(box_size=box)
    wells = [(w.cc1_deg, w.cc2_deg) for w in load_preset("paper-3x4").wells]
    list(composite_maps(obj, wells[:1]))  # compile (cached on disk after the first run)
    t = time.perf_counter()
    ours = list(composite_maps(obj, wells))
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    reference = [scipy_composite(obj, *w) for w in wells]
    t_scipy = time.perf_counter() - t
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, reference))
    print(f"{len(wells)} well maps at box {box}: {t_ours:.2f} s compiled, {t_scipy:.2f} s scipy "
          f"map_coordinates ({t_scipy / t_ours:.1f}x); largest difference {diff:.1e} "
          f"(map maximum {max(float(a.max()) for a in ours):.2f})")


if __name__ == "__main__":
    main()
