"""Mouse and keyboard on the landscape map: the well handles wired to the document, clicks,
context menus, the conformation cross-hair and the cursor position.

``MapInteractionMixin`` is mixed into gui.landscape.landscape_map.LandscapeMapWidget and uses its
``doc`` (gui.model.document.LandscapeDocument), ``editable``, ``pick_conformation``, ``overlay``
(gui.landscape.well_handles.WellOverlay), ``view_box`` (a ``MapViewBox``), ``marker`` (the
cross-hair, a pg.TargetItem), ``reset_view()`` and the signals sigCursorMoved(cc1, cc2),
sigCursorLeft() and sigMapClicked(cc1, cc2). Handles: drag a well to move it (one undo step
on release; right click or Esc cancels), click to select, context menu to delete. Map: a
double-click or the context menu adds a well (editable), a click sets the conformation
(pick_conformation).

Example::

    class Map(MapInteractionMixin, pg.GraphicsLayoutWidget):
        def __init__(self, doc):
            ...                             # doc, overlay, view_box, marker, signals
            self._connect_interaction()     # handles, clicks, cross-hair and cursor
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu


class MapViewBox(pg.ViewBox):
    """A ViewBox that reports clicks (single, double, right) instead of showing its menu."""

    sigClicked = Signal(object)  # pyqtgraph MouseClickEvent

    def mouseClickEvent(self, ev):
        ev.accept()
        self.sigClicked.emit(ev)


class MapInteractionMixin:
    """The map's mouse and keyboard handling (see the module docstring)."""

    def _connect_interaction(self) -> None:
        """Wire the handles to the document's edits, and the clicks, the cross-hair's drag
        and the mouse moves to their handlers."""
        handles = self.overlay.handles
        handles.sigDragStarted.connect(self.doc.select_well)
        handles.sigDragMoved.connect(self.doc.preview_move_well)
        handles.sigDragFinished.connect(self.doc.move_well)
        handles.sigDragCancelled.connect(lambda _i: self.doc.cancel_preview())
        handles.sigWellClicked.connect(self.doc.select_well)
        handles.sigWellContextMenu.connect(self._well_menu)
        self.view_box.sigClicked.connect(self._on_view_clicked)
        self.marker.sigPositionChanged.connect(self._on_marker_dragged)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _move_marker(self, cc1: float, cc2: float) -> None:
        if self.marker.pos() != QPointF(cc1, cc2):
            self.marker.blockSignals(True)
            self.marker.setPos(cc1, cc2)
            self.marker.blockSignals(False)

    def _on_marker_dragged(self, *_):
        p = self.marker.pos()
        self.doc.set_conformation(p.x(), p.y())

    def _on_view_clicked(self, ev) -> None:
        p = self.view_box.mapSceneToView(ev.scenePos())
        x, y = p.x(), p.y()
        if ev.button() == Qt.MouseButton.LeftButton:
            if ev.double():
                if self.editable:
                    self.doc.add_well(self.doc.new_well_at(x, y))
                return
            if self.editable:
                self.doc.select_well(-1)
            if self.pick_conformation:
                self.doc.set_conformation(x, y)
            self.sigMapClicked.emit(*self.doc.clamp_to_domain(x, y))
        elif ev.button() == Qt.MouseButton.RightButton:
            self._map_menu(x, y, ev.screenPos().toPoint())

    def _popup(self, actions: list[tuple[str, object]], screen_pos: QPoint) -> QMenu:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for text, slot in actions:
            action = QAction(text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.popup(screen_pos)
        return menu

    def _map_menu(self, x: float, y: float, screen_pos: QPoint) -> None:
        actions = []
        if self.editable:
            actions.append((f"Add well at ({x:.1f}°, {y:.1f}°)",
                            lambda: self.doc.add_well(self.doc.new_well_at(x, y))))
        if self.pick_conformation:
            actions.append(("Set conformation here", lambda: self.doc.set_conformation(x, y)))
        actions.append(("Reset view", self.reset_view))
        self._popup(actions, screen_pos)

    def _well_menu(self, index: int, screen_pos: QPoint) -> None:
        self.doc.select_well(index)
        if self.editable:
            self._popup([(f"Delete well {index + 1}", lambda: self.doc.remove_well(index))], screen_pos)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(scene_pos):
            p = self.view_box.mapSceneToView(scene_pos)
            lo1, hi1, lo2, hi2 = self.doc.grid.extent_deg
            if lo1 <= p.x() <= hi1 and lo2 <= p.y() <= hi2:
                self.sigCursorMoved.emit(p.x(), p.y())
                return
        self.sigCursorLeft.emit()

    def keyPressEvent(self, ev):
        if ev.key() == Qt.Key.Key_Escape and self.overlay.handles.cancel_drag():
            ev.accept()
            return
        super().keyPressEvent(ev)
