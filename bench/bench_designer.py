"""Designer speed: one full drag-update cycle per mouse move (engine + every widget + paint).

A well of paper-3x4 (512 x 512 grid, 5,000-point live sample) is dragged along a path of
mouse positions. Each cycle is what one mouse move costs: ``preview_move_well`` (new energy
grid, basins and sample from the preview grid), every widget's redraw from the document's
signals (image, contours, handles, sample, marginals, table, inspector) and one paint of the
widgets. Same-run baselines: the engine's 512^2 energy grid alone (the issue's 30 ms
budget is for it), and the same cycle with full-resolution basins (what a drag would cost
without the coarser preview grid). Also the release (one undo command, full-resolution
redraw). Prints medians over the path; timings on a shared 2-core machine are noisy.

    python bench/bench_designer.py          # uses $DISPLAY, else Qt's offscreen platform
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.presets import load_preset  # noqa: E402
from gui import document as document_module  # noqa: E402
from gui.document import LandscapeDocument  # noqa: E402
from gui.landscape_designer import LandscapeDesigner  # noqa: E402

N_MOVES = 40
WELL = 5  # well 6, the deepest


def path_positions(land):
    x0, y0 = land.wells[WELL].cc1_deg, land.wells[WELL].cc2_deg
    return [(x0 + 6.0 * k / N_MOVES, y0 + 3.0 * (k % 7) / 7) for k in range(1, N_MOVES + 1)]


def timed_cycles(app, designer, doc, positions):
    times = []
    for x, y in positions:
        t = time.perf_counter()
        doc.preview_move_well(WELL, x, y)
        app.processEvents()  # paints every widget the move made dirty, once
        times.append(time.perf_counter() - t)
    return times


def main():
    app = QApplication.instance() or QApplication(sys.argv)
    land = load_preset("paper-3x4")
    doc = LandscapeDocument(land)
    designer = LandscapeDesigner(doc)
    designer.resize(1500, 930)
    designer.set_sample_size(5000)
    designer.show()
    for _ in range(10):
        app.processEvents()
    positions = path_positions(land)

    grid_times = []
    for x, y in positions:
        moved = land.with_well(WELL, dataclasses.replace(land.wells[WELL], cc1_deg=x, cc2_deg=y))
        t = time.perf_counter()
        moved.grid()
        grid_times.append(time.perf_counter() - t)

    timed_cycles(app, designer, doc, positions[:5])  # warm up caches and pixmap atlases
    doc.cancel_preview()
    cycle = timed_cycles(app, designer, doc, positions)
    t = time.perf_counter()
    doc.move_well(WELL, *positions[-1])
    app.processEvents()
    release = time.perf_counter() - t
    doc.undo_stack.undo()

    document_module.PREVIEW_GRID_SIZE = land.grid_size  # same cycle without the coarse grid
    full = timed_cycles(app, designer, doc, positions)
    doc.cancel_preview()

    ms = lambda v: 1e3 * statistics.median(v)  # noqa: E731
    base = ms(grid_times)
    print(f"paper-3x4, {land.grid_size}x{land.grid_size} grid, 12 wells, 5,000-point live sample, "
          f"{N_MOVES} mouse moves (medians)")
    print(f"  baseline: energy grid alone (engine)          {base:7.1f} ms")
    print(f"  drag cycle: engine + widgets + paint          {ms(cycle):7.1f} ms  "
          f"({ms(cycle) / base:.1f}x baseline; p90 {1e3 * sorted(cycle)[int(0.9 * len(cycle))]:.1f} ms)")
    print(f"  same cycle with full-resolution basins        {ms(full):7.1f} ms  ({ms(full) / base:.1f}x baseline)")
    print(f"  release: one undo command, full redraw        {1e3 * release:7.1f} ms")
    designer.close()


if __name__ == "__main__":
    main()
