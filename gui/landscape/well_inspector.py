"""The selected well's numbers (editable) and a table of every well's occupancy.

``WellInspector`` edits the selected well: name, centre (cc1, cc2), depth, sigma1, sigma2,
angle. Each committed value (Enter, focus out, arrow step) is one undo command through
``LandscapeDocument.update_well``; consecutive steps of one field merge into one undo step.
``WellTable`` lists every well with its basin's Boltzmann occupancy, its free energy
G = -kT ln(P / P_max) in kT, and whether it has merged into a neighbour; clicking a row
selects the well. Both redraw from the document's signals; during a drag preview the table
(basins) is redrawn at most every ``TABLE_REFRESH_MS`` from the latest preview, and the
inspector only touches the boxes whose value or range changed. The centre boxes' ranges are
the landscape's domain (wells never lie outside it), so they follow domain edits.

Example::

    inspector = WellInspector(doc)
    table = WellTable(doc)
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QDoubleSpinBox, QFormLayout, QHeaderView,
                               QLabel, QLineEdit, QTableWidget, QTableWidgetItem, QWidget)

from gui.widgets.palette import well_colour

TABLE_REFRESH_MS = 60  # during a drag, occupancies are redrawn at most this often (0: always)

# field -> (label, unit suffix, decimals, step)
_FIELDS = {
    "cc1_deg": ("Centre cc1", " °", 2, 0.5),
    "cc2_deg": ("Centre cc2", " °", 2, 0.5),
    "depth_kcal_per_mol": ("Depth", " kcal/mol", 2, 0.1),
    "sigma1_deg": ("Width σ1", " °", 2, 0.1),
    "sigma2_deg": ("Width σ2", " °", 2, 0.1),
    "angle_deg": ("Angle", " °", 1, 5.0),
}


def colour_icon(number: int, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(well_colour(number)))
    return QIcon(pixmap)


class WellInspector(QWidget):
    """Form with the numbers of the document's selected well (disabled when none)."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self._index = -1
        self._updating = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        form.addRow(self.title)
        self.name_edit = QLineEdit()
        self.name_edit.editingFinished.connect(self._on_name_edited)
        form.addRow("Name", self.name_edit)
        self.spin_boxes: dict[str, QDoubleSpinBox] = {}
        for field, (label, suffix, decimals, step) in _FIELDS.items():
            box = QDoubleSpinBox()
            box.setDecimals(decimals)
            box.setSingleStep(step)
            box.setSuffix(suffix)
            box.setKeyboardTracking(False)
            box.setAccelerated(True)
            box.valueChanged.connect(lambda value, f=field: self._on_value_edited(f, value))
            self.spin_boxes[field] = box
            form.addRow(label, box)
        self.depth_kT = QLabel()
        form.addRow("", self.depth_kT)
        document.sigSelectionChanged.connect(self._refresh)
        document.sigLandscapeChanged.connect(self._refresh)
        self._refresh()

    @property
    def well_index(self) -> int:
        return self._index

    def _refresh(self, *_):
        land = self.doc.landscape
        self._index = self.doc.selected_well
        has_well = 0 <= self._index < len(land.wells)
        self.setEnabled(has_well)
        self._updating = True
        try:
            if not has_well:
                self.title.setText("<b>No well selected</b> — click a handle on the map")
                self.name_edit.clear()
                self.depth_kT.clear()
                return
            well = land.wells[self._index]
            colour = well_colour(self._index + 1)
            self.title.setText(f"<span style='color:{colour}; font-size:14pt'>●</span> "
                               f"<b>Well {self._index + 1}</b>")
            if self.name_edit.text() != well.name and not self.name_edit.hasFocus():
                self.name_edit.setText(well.name)
            ranges = {
                "cc1_deg": land.cc1_range_deg, "cc2_deg": land.cc2_range_deg,
                "depth_kcal_per_mol": (0.01, 100.0), "angle_deg": (-180.0, 180.0),
                "sigma1_deg": (0.05, max(land.cc1_range_deg[1] - land.cc1_range_deg[0], 1.0)),
                "sigma2_deg": (0.05, max(land.cc2_range_deg[1] - land.cc2_range_deg[0], 1.0)),
            }
            for field, box in self.spin_boxes.items():
                lo, hi = ranges[field]
                if (box.minimum(), box.maximum()) != (round(lo, box.decimals()), round(hi, box.decimals())):
                    box.setRange(lo, hi)
                value = getattr(well, field)
                if not math.isclose(box.value(), value, abs_tol=0.5 * 10 ** -box.decimals()):
                    box.setValue(value)
            self.depth_kT.setText(f"depth = {well.depth_kcal_per_mol / land.kT_kcal_per_mol:.2f} kT")
        finally:
            self._updating = False

    def _on_value_edited(self, field: str, value: float) -> None:
        if self._updating or self._index < 0:
            return
        current = getattr(self.doc.landscape.wells[self._index], field)
        if math.isclose(value, current, abs_tol=0.5 * 10 ** -self.spin_boxes[field].decimals()):
            return  # only the display rounding differs
        self.doc.update_well(self._index, **{field: float(value)})

    def _on_name_edited(self) -> None:
        if self._updating or self._index < 0:
            return
        name = self.name_edit.text().strip()
        if name and name != self.doc.landscape.wells[self._index].name:
            self.doc.update_well(self._index, name=name)


class WellTable(QTableWidget):
    """One row per well: number (palette colour), name, occupancy %, G (kT), merged flag."""

    HEADERS = ("#", "Name", "Occupancy", "G (kT)", "Basin")

    def __init__(self, document, parent=None):
        super().__init__(0, len(self.HEADERS), parent)
        self.doc = document
        self._updating = False
        self.setHorizontalHeaderLabels(self.HEADERS)
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        # columns are fitted to their contents after each committed change, not on every
        # text change during a drag (ResizeToContents measures every row each time)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(22)
        self.itemSelectionChanged.connect(self._on_row_selected)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._refresh)
        document.sigLandscapeChanged.connect(self._on_landscape)
        document.sigSelectionChanged.connect(self._select_row)
        self._refresh()

    def _on_landscape(self, *_):
        if (self.doc.is_previewing and TABLE_REFRESH_MS > 0
                and self.rowCount() == len(self.doc.landscape.wells)):
            if not self._timer.isActive():
                self._timer.start(TABLE_REFRESH_MS)
        else:
            self._timer.stop()
            self._refresh()

    def row_texts(self, row: int) -> list[str]:
        return [self.item(row, c).text() for c in range(self.columnCount())]

    def _refresh(self, *_):
        land = self.doc.landscape
        basins = self.doc.live_grid.basins
        kT = land.kT_kcal_per_mol
        self._updating = True
        try:
            if self.rowCount() != len(land.wells):
                self.setRowCount(len(land.wells))
                for row in range(len(land.wells)):
                    for col in range(self.columnCount()):
                        item = QTableWidgetItem()
                        if col >= 2:
                            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                        self.setItem(row, col, item)
                    self.item(row, 0).setIcon(colour_icon(row + 1))
            for row, well in enumerate(land.wells):
                owner = basins.merged_into[row]
                occupancy = f"{100 * basins.occupancy[row]:.1f} %" if owner is None else "—"
                free = basins.free_energy_kcal_per_mol[row]
                texts = (str(row + 1), well.name, occupancy,
                         f"{free / kT + 0.0:.2f}" if owner is None else "—",
                         "own minimum" if owner is None else f"merged into {owner}")
                for col, text in enumerate(texts):
                    item = self.item(row, col)
                    if item.text() != text:
                        item.setText(text)
                self.item(row, 4).setForeground(QColor("#c0102a" if owner is not None else "#404040"))
        finally:
            self._updating = False
        if not self.doc.is_previewing:
            for col in (0, 2, 3, 4):
                self.resizeColumnToContents(col)
        self._select_row(self.doc.selected_well)

    def _select_row(self, index: int) -> None:
        self._updating = True
        try:
            if 0 <= index < self.rowCount():
                self.selectRow(index)
            else:
                self.clearSelection()
        finally:
            self._updating = False

    def _on_row_selected(self) -> None:
        if self._updating:
            return
        rows = self.selectionModel().selectedRows()
        self.doc.select_well(rows[0].row() if rows else -1)
