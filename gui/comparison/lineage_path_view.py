"""The lineage view's path: the current method's minimum-energy path between two wells, drawn
over its panel, the truth's over the ground-truth panel, and a line comparing them.

Which wells: those :meth:`LineagePath.set_wells` names; a view that follows a document
(:meth:`LineagePath.follow_document`) takes the end wells of the Landscape tab's path
(``designer_path.end_wells``, wells by number) each time they change; None (the default) is the
first neighbouring pair of the designed landscape (gui.comparison.lineage_path). The path is
computed by gui.comparison.lineage_path.method_path_job through a JobRunner: inline for up to
gui.widgets.jobs.SYNC_LIMIT_ROWS scored particles (a fifth of a second), in the background
above, the next change cancelling it. The lineage view calls :meth:`LineagePath.refresh`
after it laid out or re-coloured its panels, so the lines go into the panels on screen.

"Play in 3D" sends ``sigPlayPath(points_deg (N, 2), label)``: the method's path as true
(cc1, cc2) degrees, for gui.structure.motion_player.MotionPlayer.play_path.

Example::

    path = LineagePath(lineage_view)       # lineage_view.path_overlay
    path.follow_document(doc)
    path.sigPlayPath.connect(structure_tab.player.play_path)
    path.result.pair.barrier_error_kcal_per_mol, path.text.text()
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from engine.scoring.comparison import scoring_dataset
from gui.comparison.lineage_path import method_path_job
from gui.widgets.jobs import JobRunner

METHOD_PEN = pg.mkPen("#e6007e", width=2.5)          # the designer's path colour
REFERENCE_PEN = pg.mkPen("#e6007e", width=2.0, style=Qt.PenStyle.DashLine)
BARRIER_BRUSH = "#d7191c"
PATH_Z = 40  # above the particles, below the centre discs (50)


class LineagePath(QWidget):
    """The comparison line and the Play button; owns the path items on the view's panels.

    Signals: sigPlayPath(object, str): true (cc1, cc2) points (N, 2) and a label.
    sigUpdated(): a new result, message or error is shown.
    """

    sigPlayPath = Signal(object, str)
    sigUpdated = Signal()

    def __init__(self, view, parent=None):
        super().__init__(parent)
        self.view = view
        self.comparison = view.comparison
        self.wells_asked: tuple[int, int] | None = None
        self.result = None            # gui.comparison.lineage_path.MethodPath shown, or None
        self._key = None              # what the result (or the job running) is for
        self._plots = []              # the plots holding the items now
        self.curve = pg.PlotCurveItem(pen=METHOD_PEN, antialias=True)
        self.tops = pg.ScatterPlotItem(symbol="t1", size=11, brush=BARRIER_BRUSH, pen=pg.mkPen("w", width=1))
        self.reference = pg.PlotCurveItem(pen=REFERENCE_PEN, antialias=True)
        for item in (self.curve, self.tops, self.reference):
            item.setZValue(PATH_Z)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setStyleSheet("color: #404040;")
        self.play_button = QPushButton("Play in 3D")
        self.play_button.setToolTip("Move the SSU in the Structure tab through the true conformations "
                                    "of the particles the method puts along its path")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self.play)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.play_button)
        self.runner = JobRunner(self)
        self.runner.sigFinished.connect(self._on_finished)
        self.runner.sigErrored.connect(self._on_errored)

    # --- public -------------------------------------------------------------------------
    def follow_document(self, document) -> None:
        """Take the wells from ``document``'s designer path (gui.model.document), now and on
        every sigDesignerPathChanged."""
        document.sigDesignerPathChanged.connect(self._on_designer_path)
        self._on_designer_path(document.designer_path)

    def set_wells(self, wells) -> None:
        """Show the path between ``wells`` (1-based pair, in that order), None for the default."""
        wells = None if wells is None else (int(wells[0]), int(wells[1]))
        if wells != self.wells_asked:
            self.wells_asked = wells
            self.refresh()

    def refresh(self) -> None:
        """Follow the current method, its scores and the wells (recompute only on a change)."""
        model = self.comparison
        entry = model.current_method if model.dataset is not None else None
        if entry is None:
            return self._show_message("")
        if entry.scores is None:
            return self._show_message(f"No path: {entry.label} is not scored ({entry.error or 'not yet'}).")
        if entry.landscape is None:
            return self._show_message(f"No path: {entry.label} is scored on one dimension; a path needs two.")
        key = (id(model.dataset), entry.id, entry.scored_with, self.wells_asked)
        if key == self._key:
            self._place()
            return
        self._key, self.result = key, None
        self._draw()
        self.text.setText(f"Finding {entry.label}'s path…")
        self.runner.run(method_path_job, scoring_dataset(model.dataset, entry.scored_with), entry.output,
                        entry.scores, entry.landscape, self.wells_asked, entry.label,
                        size=len(entry.scores.particle_index), name="lineage path")

    def play(self) -> None:
        result, entry = self.result, self.comparison.current_method
        if result is not None and entry is not None:
            a, b = result.wells
            self.sigPlayPath.emit(result.true_points_deg, f"{entry.label}: path {a} → {b}")

    def shutdown(self) -> None:
        self.runner.shutdown()

    # --- results ------------------------------------------------------------------------
    def _on_designer_path(self, path) -> None:
        self.set_wells(None if path is None else path.end_wells)

    def _on_finished(self, result) -> None:
        if self._key is None or result is None:
            return
        self.result = result
        self._draw()
        self.text.setText(result.summary_text())
        self.sigUpdated.emit()

    def _on_errored(self, message: str) -> None:
        self._show_message(f"No path: {message.split(': ', 1)[-1]}", keep_key=True)

    def _show_message(self, message: str, keep_key: bool = False) -> None:
        if not keep_key:
            self.runner.cancel()
            self._key = None
        self.result = None
        self._draw()
        self.text.setText(message)
        self.sigUpdated.emit()

    def _draw(self) -> None:
        r = self.result
        if r is None:
            empty = np.zeros(0)
            self.curve.setData(empty, empty)
            self.reference.setData(empty, empty)
            self.tops.setData([], [])
        else:
            rec, ref = r.pair.recovered, r.pair.reference
            self.curve.setData(rec.points_deg[:, 0], rec.points_deg[:, 1])
            self.tops.setData(pos=rec.points_deg[[s.peak_index for s in rec.segments]].reshape(-1, 2))
            self.reference.setData(ref.points_deg[:, 0], ref.points_deg[:, 1])
        self.play_button.setEnabled(r is not None and bool(np.isfinite(r.true_points_deg).all()))
        self._place()

    def _place(self) -> None:
        """Put the method's line on the current method's panel and the truth's on the truth panel."""
        model = self.comparison
        wanted = []
        if self.result is not None and 0 <= model.current < len(model.methods):
            wanted = [self.view.panel_of(model.current).plot, self.view.truth.plot]
        if [id(p) for p in wanted] == [id(p) for p in self._plots]:
            return
        for plot, items in zip(self._plots, ((self.curve, self.tops), (self.reference,))):
            for item in items:
                plot.removeItem(item)
        for plot, items in zip(wanted, ((self.curve, self.tops), (self.reference,))):
            for item in items:
                plot.addItem(item, ignoreBounds=True)
        self._plots = wanted


__all__ = ["LineagePath"]
