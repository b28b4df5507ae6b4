"""Save a pyqtgraph figure as PNG or SVG (pyqtgraph exporters), chosen by the file suffix.

PNG is rendered at ``scale`` times the on-screen size (sharper text for papers); SVG keeps
lines, bars and text as vectors (aggregated point clouds are embedded as images).

Example::

    export_figure(recall_chart, "fig2b.svg")
    path = ask_and_export(parent, lineage.plots, "lineage")    # file dialog
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph.exporters as pg_exporters
from PySide6.QtWidgets import QApplication, QFileDialog

FIGURE_FILTER = "PNG image (*.png);;SVG vector image (*.svg)"
PNG_SCALE = 2


def export_figure(graphics_view, path, scale: int = PNG_SCALE) -> Path:
    """Write the scene of ``graphics_view`` (a pyqtgraph GraphicsView/GraphicsLayoutWidget)
    to ``path`` (.png or .svg). Raises ValueError for another suffix, OSError when the file
    cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    QApplication.processEvents()
    scene = graphics_view.scene()
    if suffix == ".svg":
        pg_exporters.SVGExporter(scene).export(str(path))
    elif suffix == ".png":
        exporter = pg_exporters.ImageExporter(scene)
        exporter.parameters()["width"] = int(graphics_view.width() * scale)
        exporter.parameters()["antialias"] = True
        exporter.export(str(path))
    else:
        raise ValueError(f"{path}: figures are saved as .png or .svg (got {suffix or 'no suffix'})")
    if not path.is_file():
        raise OSError(f"{path}: the figure could not be written")
    return path


def ask_and_export(parent, graphics_view, name: str) -> Path | None:
    """File dialog (PNG or SVG), then ``export_figure``; None when cancelled."""
    path, chosen = QFileDialog.getSaveFileName(parent, "Export figure", f"{name}.png", FIGURE_FILTER)
    if not path:
        return None
    if not Path(path).suffix:
        path += ".svg" if "svg" in chosen else ".png"
    return export_figure(graphics_view, path)
