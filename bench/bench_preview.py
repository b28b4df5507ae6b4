"""Projection preview latency at box 128 (target: an update within 100 ms), and the 3D view's
costs that decided the default box size.

Prints, best of several repeats (median / worst for the full cycle), next to the same-run
baseline of the unavoidable work, one engine projection of one image:
- the engine part of a preview image (clean, with CTF, with CTF + noise);
- ``ProjectionPreview.refresh`` (engine + contrast + pyqtgraph image);
- with an X server (``xvfb-run -a python bench/bench_preview.py``): the full cycle in the tab,
  from moving the rot slider until the 3D canvas has redrawn with the new projection plane;
  isosurface meshing and off-screen rendering at box 96 and 128.
Without a display the GL parts are left out (vispy needs OpenGL), and it says so.

    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/bench_preview.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import best_of  # noqa: E402
HAVE_DISPLAY = bool(os.environ.get("DISPLAY"))
if not HAVE_DISPLAY:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.structure.object_model import build_ribosome_like  # noqa: E402
from engine.landscape.presets import load_preset  # noqa: E402
from engine.imaging.projector import TwoBodyProjector  # noqa: E402
from gui.model.document import LandscapeDocument  # noqa: E402
from gui.structure.projection_preview import (MODE_CLEAN, MODE_CTF, MODE_NOISY, PreviewSettings,  # noqa: E402
                                    ProjectionPreview, calibrated_sigma, preview_image)

BOX = 128


def best_of_ms(fn, repeats=15) -> float:
    return 1e3 * best_of(fn, repeats)


def engine_figures(obj, projector) -> float:
    euler, cc = np.array([[30.0, 60.0, 10.0]]), np.array([[5.0, -3.0]])
    base = best_of_ms(lambda: projector.project(euler, cc))
    print(f"box {BOX}, {obj.apix_A:.2f} A/px, one image")
    print(f"  baseline: engine projection (clean)        {base:7.2f} ms")
    settings = {m: PreviewSettings(30.0, 60.0, 10.0, mode=m) for m in (MODE_CLEAN, MODE_CTF, MODE_NOISY)}
    sigma = calibrated_sigma(obj, projector, settings[MODE_NOISY])
    for mode, s in settings.items():
        ms = best_of_ms(lambda: preview_image(obj, projector, s, (5.0, -3.0), sigma))
        print(f"  preview image, {mode:<20}        {ms:7.2f} ms  ({ms / base:.1f}x baseline)")
    cal = best_of_ms(lambda: calibrated_sigma(obj, projector, settings[MODE_NOISY]), 3)
    print(f"  noise calibration (64 images; on SNR/CTF change only) {cal:7.1f} ms")
    return base


def widget_figures(app, doc, obj, base) -> None:
    preview = ProjectionPreview(doc)
    preview.resize(420, 800)
    preview.show()
    preview.set_object(obj)
    for mode in (MODE_CLEAN, MODE_CTF, MODE_NOISY):
        preview.set_mode(mode)
        preview.refresh()
        angles = iter(np.linspace(-170, 170, 100))
        ms = best_of_ms(lambda: (preview.rot.set_value(next(angles)), preview.refresh()))
        print(f"  ProjectionPreview.refresh, {mode:<20} {ms:7.2f} ms  ({ms / base:.1f}x baseline)")
    preview.close()


def full_cycle_figures(app, doc, obj) -> None:
    from gui.structure.structure_tab import StructureTab

    tab = StructureTab(doc, obj=obj)
    tab.resize(1400, 860)
    tab.show()
    start = time.perf_counter()   # the tab prepares the object in its job runner
    stall = 0.0                    # longest event-loop pass meanwhile: what users feel
    while (tab.object is not obj or tab.loader.is_running()) and time.perf_counter() - start < 60.0:
        t = time.perf_counter()
        app.processEvents()
        stall = max(stall, time.perf_counter() - t)
        time.sleep(0.01)
    print(f"  object prepared off the GUI thread: on screen after {time.perf_counter() - start:.2f} s, "
          f"longest GUI-thread pass meanwhile {1e3 * stall:.0f} ms")
    drawn = []
    tab.view.canvas.events.draw.connect(lambda ev: drawn.append(time.perf_counter()))
    for mode in (MODE_CLEAN, MODE_NOISY):
        tab.preview.set_mode(mode)
        tab.preview.refresh()
        app.processEvents()
        cycles = []
        for k, rot in enumerate(np.linspace(-170, 170, 25)):
            drawn.clear()
            t = time.perf_counter()
            tab.preview.rot.slider.setValue(round(10 * rot))
            while not drawn and time.perf_counter() - t < 2.0:
                app.processEvents()
            cycles.append(1e3 * ((drawn[0] if drawn else time.perf_counter()) - t))
        print(f"  slider -> image and 3D plane redrawn, {mode:<17} median {statistics.median(cycles):6.1f} ms, "
              f"worst {max(cycles):6.1f} ms (target 100 ms)")
    size = tab.view.canvas.size
    tab.close_view()
    tab.close()
    print(f"3D view (canvas {size[0]}x{size[1]}, Mesa software GL under Xvfb)")
    from gui.structure.object_view import VispyObjectView

    view = VispyObjectView(size=size)
    view.native.show()
    for box in (96, 128):
        o = build_ribosome_like(box_size=box)
        mesh = best_of_ms(lambda: view.set_object(o), 3)
        threshold = best_of_ms(lambda: view.set_threshold(0.3), 3)
        render = best_of_ms(view.render_image, 5)
        move = best_of_ms(lambda: (view.set_conformation(np.random.uniform(-15, 15), 0.0), view.render_image()), 5)
        n = len(view.lsu_vertices_A()) + len(view.ssu_vertices_A())
        print(f"  box {box:3d}: set_object {mesh:6.0f} ms, threshold remesh {threshold:6.0f} ms, "
              f"render {render:5.1f} ms, move SSU + render {move:5.1f} ms ({n:,} vertices)")
    view.close()


def main():
    app = QApplication.instance() or QApplication(sys.argv)
    obj = build_ribosome_like(box_size=BOX)
    t = time.perf_counter()
    projector = TwoBodyProjector(obj)
    print(f"projector set-up (padded 3D FFTs, once per object): {1e3 * (time.perf_counter() - t):.0f} ms")
    base = engine_figures(obj, projector)
    doc = LandscapeDocument(load_preset("paper-3x4"))
    widget_figures(app, doc, obj, base)
    if HAVE_DISPLAY:
        full_cycle_figures(app, doc, obj)
    else:
        print("no DISPLAY: the GL figures (full cycle, meshing, rendering) need an X server; "
              "run under xvfb-run")


if __name__ == "__main__":
    main()
