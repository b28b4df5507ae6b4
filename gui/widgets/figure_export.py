"""Save a pyqtgraph figure as PNG or SVG, chosen by the file suffix.

PNG: pyqtgraph's ImageExporter at ``scale`` times the on-screen size (sharper text for
papers). SVG: the scene painted into Qt's own SVG 1.1 generator (clip paths on, so points
outside a plot stay outside) with the items in pyqtgraph's export mode, so lines, bars,
scatter symbols and text stay vectors; aggregated point clouds are embedded images. pyqtgraph 0.14's SVGExporter cannot be used with Qt 6: it re-parses the
paths Qt writes and fails on their close-path command "Z" (pyqtgraph issue #3485).

Example::

    export_figure(recall_chart, "fig2b.svg")
    path = ask_and_export(parent, lineage.plots, "lineage")    # file dialog
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph.exporters as pg_exporters
from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QGuiApplication, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

FIGURE_FILTER = "PNG image (*.png);;SVG vector image (*.svg)"
PNG_SCALE = 2
LAST_FOLDER_KEY = "comparison/last_folder"


def dialog_folder(fallback=None) -> str:
    """Folder a Comparison-tab file dialog starts in: the last folder a file was chosen in
    (this or an earlier session), else ``fallback`` (the dataset folder), else ''."""
    from gui.widgets.settings import AppSettings

    last = AppSettings().read_str(LAST_FOLDER_KEY)
    if last and Path(last).is_dir():
        return last
    return str(fallback) if fallback is not None and Path(fallback).is_dir() else ""


def remember_folder(path) -> None:
    """Remember the folder of ``path`` (a chosen file, or a chosen folder itself)."""
    from gui.widgets.settings import AppSettings

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    AppSettings().write(LAST_FOLDER_KEY, str(folder))


def start_path(name: str, fallback=None) -> str:
    """``name`` inside ``dialog_folder(fallback)`` (a save dialog's proposed file)."""
    folder = dialog_folder(fallback)
    return str(Path(folder) / name) if folder else name


def export_figure(graphics_view, path, scale: int = PNG_SCALE) -> Path:
    """Write the scene of ``graphics_view`` (a pyqtgraph GraphicsView/GraphicsLayoutWidget)
    to ``path`` (.png or .svg). Raises ValueError for another suffix, OSError when the file
    cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    QApplication.processEvents()
    scene = graphics_view.scene()
    if suffix == ".svg":
        _write_svg(graphics_view, path)
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


def _write_svg(graphics_view, path: Path) -> None:
    width, height = graphics_view.width(), graphics_view.height()
    generator = QSvgGenerator(QSvgGenerator.SvgVersion.Svg11)
    generator.setFileName(str(path))
    generator.setSize(graphics_view.size())
    generator.setViewBox(QRect(0, 0, width, height))
    generator.setResolution(int(QGuiApplication.primaryScreen().logicalDotsPerInchX()))  # font sizes as on screen
    generator.setTitle(path.stem)
    scene = graphics_view.scene()
    # export mode, as pyqtgraph's exporters set it: scatter symbols drawn as vector paths
    # instead of fragments of a cached pixmap atlas
    items = [item for item in scene.items() if hasattr(item, "setExportMode")]
    painter = QPainter(generator)
    try:
        for item in items:
            item.setExportMode(True, {"antialias": True, "background": graphics_view.backgroundBrush().color(),
                                      "painter": painter})
        scene.render(painter, QRectF(0, 0, width, height),
                     graphics_view.mapToScene(graphics_view.viewport().rect()).boundingRect())
    finally:
        for item in items:
            item.setExportMode(False)
        painter.end()


def ask_and_export(parent, graphics_view, name: str, folder=None) -> Path | None:
    """File dialog (PNG or SVG) in the last folder used (else ``folder``), then
    ``export_figure``; None when cancelled or when the file cannot be written (a message box
    says why)."""
    path, chosen = QFileDialog.getSaveFileName(parent, "Export figure", start_path(f"{name}.png", folder),
                                               FIGURE_FILTER)
    if not path:
        return None
    remember_folder(path)
    if not Path(path).suffix:
        path += ".svg" if "svg" in chosen else ".png"
    try:
        return export_figure(graphics_view, path)
    except (OSError, ValueError) as exc:
        QMessageBox.warning(parent, "Cannot export figure", str(exc))
        return None
