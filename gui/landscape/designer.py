"""The "Landscape" tab: design an energy landscape by dragging wells.

Left: the energy map with marginal densities (``LandscapeMapWidget``). Right: landscape
controls (domain ranges, grid size, background energy, confinement, temperature, energy
unit, core radius, live sample size, contours), the selected well's numbers
(``WellInspector``), the path between two wells or a drawn one with its energy profile
(``PathProfilePanel``, drawn on the map by a ``PathOverlay``) and the table of wells with
their occupancies (``WellTable``). All of them share the ``LandscapeDocument``; this widget
only lays them out, hands the map's clicks to the path panel while it draws, and turns the
map's cursor position into a status-bar message. Every landscape edit is one undo command; an
edit the landscape refuses (a domain that would leave a well centre outside, min >= max)
leaves it unchanged and says why under the controls and in the status bar.

Example::

    designer = LandscapeDesigner(doc)
    designer.sigStatusMessage.connect(window.statusBar().showMessage)
    designer.set_sample_size(5000)
"""
from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QLabel, QScrollArea, QSlider, QSplitter,
                               QVBoxLayout, QWidget)

from gui.model.document import ENERGY_UNITS
from gui.landscape.landscape_map import LandscapeMapWidget
from gui.landscape.path_profile_view import PathOverlay, PathProfilePanel
from gui.landscape.well_inspector import WellInspector, WellTable

MAX_SAMPLE_SIZE = 20000
SAMPLE_STEP = 500
DEFAULT_SAMPLE_SIZE = 5000
DEFAULT_CORE_RADIUS_DEG = 3.0  # offered when the core radius is switched on
GRID_SIZES = (512, 768, 1024)  # cells per axis offered (ground truth needs >= 512, DESIGN.md 3)
DOMAIN_LIMIT_DEG = 180.0
_FIELD_TEXT = {"cc1_range_deg": "cc1 range", "cc2_range_deg": "cc2 range",
               "background_kcal_per_mol": "Background energy", "grid_size": "Grid size",
               "confinement_kcal_per_mol": "Confinement", "temperature_K": "Temperature",
               "core_radius_deg": "Core radius"}
_OUTSIDE = re.compile(r"wells\[(\d+)\]\.(cc[12])_deg")


def _spin(lo: float, hi: float, step: float, suffix: str, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    return box


def refusal_message(landscape, field: str, value, error: Exception) -> str:
    """What to tell the user when the landscape refused ``field = value``."""
    what = _FIELD_TEXT.get(field, field)
    if isinstance(value, tuple):
        shown = f"[{value[0]:g}°, {value[1]:g}°]"
    else:
        shown = f"{value:g}" if isinstance(value, (int, float)) else str(value)
    match = _OUTSIDE.search(str(error))
    if match and int(match.group(1)) < len(landscape.wells):
        i, axis = int(match.group(1)), match.group(2)
        well = landscape.wells[i]
        centre = getattr(well, f"{axis}_deg")
        name = f" ({well.name})" if well.name != str(i + 1) else ""
        return (f"{what} not changed to {shown}: well {i + 1}{name} at {axis} = "
                f"{centre:g}° would lie outside it. Move or delete the well first.")
    return f"{what} not changed to {shown}: {error}"


class LandscapeControls(QGroupBox):
    """Domain ranges, grid size, background, confinement, temperature, energy unit, core
    radius, sample size and contour toggle.

    Signals: sigSampleSizeChanged(int), sigContoursToggled(bool), sigRefused(str): an edit
    was refused and the landscape left unchanged (the text says why).
    """

    sigSampleSizeChanged = Signal(int)
    sigContoursToggled = Signal(bool)
    sigRefused = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__("Landscape", parent)
        self.doc = document
        self._updating = False
        form = QFormLayout(self)
        self.range_boxes: dict[str, tuple[QDoubleSpinBox, QDoubleSpinBox]] = {}
        for field, label in (("cc1_range_deg", "cc1 range"), ("cc2_range_deg", "cc2 range")):
            lo = _spin(-DOMAIN_LIMIT_DEG, DOMAIN_LIMIT_DEG, 1.0, " °")
            hi = _spin(-DOMAIN_LIMIT_DEG, DOMAIN_LIMIT_DEG, 1.0, " °")
            lo.setToolTip(f"Smallest {label.split()[0]} of the domain (degrees)")
            hi.setToolTip(f"Largest {label.split()[0]} of the domain (degrees)")
            lo.valueChanged.connect(lambda v, f=field: self._on_range(f, 0, v))
            hi.valueChanged.connect(lambda v, f=field: self._on_range(f, 1, v))
            self.range_boxes[field] = (lo, hi)
            row = QHBoxLayout()
            row.addWidget(lo, 1)
            row.addWidget(QLabel("to"))
            row.addWidget(hi, 1)
            form.addRow(label, row)

        self.grid_size = QComboBox()
        self.grid_size.setToolTip("Cells per axis of the energy grid that is drawn, sampled and "
                                  "labelled (ground truth uses at least 512 x 512)")
        self.grid_size.activated.connect(self._on_grid_size)
        form.addRow("Grid", self.grid_size)

        self.background = _spin(-100.0, 100.0, 0.1, " kcal/mol")
        self.background.setToolTip("Constant background energy E_bg (shifts every energy; "
                                   "occupancies do not change)")
        self.background.valueChanged.connect(
            lambda v: self._edit("background_kcal_per_mol", float(v)))
        form.addRow("Background", self.background)
        self.confinement = _spin(0.0, 100.0, 0.5, " kcal/mol")
        self.confinement.setToolTip("Gentle bowl c (u1² + u2²) added to the background, u the "
                                    "position from the domain centre in half-widths: it "
                                    "reaches c at the middle of each edge (0: flat)")
        self.confinement.valueChanged.connect(
            lambda v: self._edit("confinement_kcal_per_mol", float(v)))
        form.addRow("Confinement", self.confinement)

        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(1.0, 2000.0)
        self.temperature.setDecimals(1)
        self.temperature.setSingleStep(10.0)
        self.temperature.setSuffix(" K")
        self.temperature.setKeyboardTracking(False)
        self.temperature.valueChanged.connect(self._on_temperature)
        self.kT_label = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.temperature, 1)
        row.addWidget(self.kT_label)
        form.addRow("Temperature", row)

        self.unit = QComboBox()
        self.unit.addItems(ENERGY_UNITS)
        self.unit.currentTextChanged.connect(self.doc.set_energy_unit)
        form.addRow("Energy in", self.unit)

        self.core_enabled = QCheckBox()
        self.core_enabled.setToolTip("Samples farther than this from their well centre are "
                                     "'transition' and left out of recall")
        self.core_radius = QDoubleSpinBox()
        self.core_radius.setRange(0.1, 90.0)
        self.core_radius.setSingleStep(0.5)
        self.core_radius.setSuffix(" °")
        self.core_radius.setKeyboardTracking(False)
        self.core_radius.setValue(DEFAULT_CORE_RADIUS_DEG)
        self.core_enabled.toggled.connect(self._on_core)
        self.core_radius.valueChanged.connect(self._on_core)
        row = QHBoxLayout()
        row.addWidget(self.core_enabled)
        row.addWidget(self.core_radius, 1)
        form.addRow("Core radius", row)

        self.sample = QSlider(Qt.Orientation.Horizontal)
        self.sample.setRange(0, MAX_SAMPLE_SIZE // SAMPLE_STEP)
        self.sample.setPageStep(4)
        self.sample_label = QLabel()
        self.sample_label.setMinimumWidth(48)
        self.sample.valueChanged.connect(self._on_sample)
        row = QHBoxLayout()
        row.addWidget(self.sample, 1)
        row.addWidget(self.sample_label)
        form.addRow("Live sample", row)

        self.contours = QCheckBox("Contour lines")
        self.contours.setChecked(True)
        self.contours.toggled.connect(self.sigContoursToggled)
        form.addRow("", self.contours)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b0102a")
        self.message.hide()
        form.addRow(self.message)

        document.sigLandscapeChanged.connect(self._refresh)
        document.sigEnergyUnitChanged.connect(self._refresh)
        self._refresh()
        self._on_sample(self.sample.value())

    def set_sample_size(self, n: int) -> None:
        self.sample.setValue(round(min(max(n, 0), MAX_SAMPLE_SIZE) / SAMPLE_STEP))

    def _refresh(self, *_):
        land = self.doc.landscape
        self._updating = True
        try:
            for field, boxes in self.range_boxes.items():
                for box, value in zip(boxes, getattr(land, field)):
                    box.setValue(value)
            self._fill_grid_sizes(land.grid_size)
            self.background.setValue(land.background_kcal_per_mol)
            self.confinement.setValue(land.confinement_kcal_per_mol)
            self.temperature.setValue(land.temperature_K)
            self.kT_label.setText(f"kT = {land.kT_kcal_per_mol:.3f} kcal/mol")
            self.unit.setCurrentText(self.doc.energy_unit)
            self.core_enabled.setChecked(land.core_radius_deg is not None)
            self.core_radius.setEnabled(land.core_radius_deg is not None)
            if land.core_radius_deg is not None:
                self.core_radius.setValue(land.core_radius_deg)
        finally:
            self._updating = False

    def _fill_grid_sizes(self, current: int) -> None:
        """Offer GRID_SIZES, plus the landscape's own size when it is another one."""
        sizes = sorted(set(GRID_SIZES) | {current})
        if [self.grid_size.itemData(i) for i in range(self.grid_size.count())] != sizes:
            self.grid_size.clear()
            for n in sizes:
                note = "" if n in GRID_SIZES else " (from the file)"
                self.grid_size.addItem(f"{n} × {n}{note}", n)
        self.grid_size.setCurrentIndex(sizes.index(current))

    def _edit(self, field: str, value) -> bool:
        """Set one landscape field (one undo step); on refusal, say why and show the
        landscape's values again. True when the landscape took it."""
        if self._updating:
            return False
        land = self.doc.landscape
        try:
            self.doc.set_landscape_field(field, value)
        except ValueError as error:
            text = refusal_message(land, field, value, error)
            self.message.setText(text)
            self.message.show()
            self._refresh()
            self.sigRefused.emit(text)
            return False
        self.message.hide()
        return True

    def _on_range(self, field: str, side: int, value: float) -> None:
        if self._updating:
            return
        new = list(getattr(self.doc.landscape, field))
        new[side] = float(value)
        self._edit(field, tuple(new))

    def _on_grid_size(self, index: int) -> None:
        self._edit("grid_size", int(self.grid_size.itemData(index)))

    def _on_temperature(self, value: float) -> None:
        self._edit("temperature_K", float(value))

    def _on_core(self, *_):
        if self._updating:
            return
        self.core_radius.setEnabled(self.core_enabled.isChecked())
        value = float(self.core_radius.value()) if self.core_enabled.isChecked() else None
        self._edit("core_radius_deg", value)

    def _on_sample(self, position: int) -> None:
        n = position * SAMPLE_STEP
        self.sample_label.setText(f"{n:,}")
        self.sigSampleSizeChanged.emit(n)


class LandscapeDesigner(QWidget):
    """Map, controls, inspector and well table of one LandscapeDocument.

    Signals: sigStatusMessage(str): cursor position and energy, or why an edit was
    refused, for the status bar.
    Actions (for the window's Edit menu): ``action_add_well``, ``action_delete_well`` (Del).
    """

    sigStatusMessage = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self.map = LandscapeMapWidget(document, editable=True, marginals=True, show_sample=True)
        self.controls = LandscapeControls(document)
        self.inspector = WellInspector(document)
        self.table = WellTable(document)
        self.path_panel = PathProfilePanel(document)
        self.path_overlay = PathOverlay(self.map.map_plot)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        side_layout.addWidget(self.controls)
        well_box = QGroupBox("Selected well")
        QVBoxLayout(well_box).addWidget(self.inspector)
        side_layout.addWidget(well_box)
        path_box = QGroupBox("Path and its energy profile")
        QVBoxLayout(path_box).addWidget(self.path_panel)
        side_layout.addWidget(path_box)
        table_box = QGroupBox("Wells (basin occupancy at this temperature)")
        QVBoxLayout(table_box).addWidget(self.table)
        side_layout.addWidget(table_box, 1)
        self.table.setMinimumHeight(140)
        scroll = QScrollArea()  # the panel scrolls rather than forcing a tall window
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(side.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        scroll.setMaximumWidth(460)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.map)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.action_add_well = QAction("Add Well", self)
        self.action_add_well.setToolTip("Add a well in the middle of the map "
                                        "(or double-click the map where it should go)")
        self.action_add_well.triggered.connect(self._add_well_in_view)
        self.action_delete_well = QAction("Delete Well", self)
        self.action_delete_well.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.action_delete_well.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.action_delete_well.triggered.connect(lambda: self.doc.remove_well(self.doc.selected_well))
        self.addAction(self.action_delete_well)

        self.controls.sigSampleSizeChanged.connect(self.map.set_sample_size)
        self.controls.sigContoursToggled.connect(self.map.set_contours_visible)
        self.map.sigCursorMoved.connect(self._on_cursor)
        self.map.sigCursorLeft.connect(lambda: self.sigStatusMessage.emit(""))
        self.controls.sigRefused.connect(self.sigStatusMessage)
        self.path_panel.sigPathChanged.connect(self.path_overlay.set_path)
        self.map.sigMapClicked.connect(self.path_panel.add_vertex)
        self.path_overlay.set_path(*self.path_panel.path_shown())  # computed before the wiring
        document.sigSelectionChanged.connect(self._on_selection)
        self._on_selection(document.selected_well)
        self.set_sample_size(DEFAULT_SAMPLE_SIZE)

    @property
    def sample_size(self) -> int:
        return self.map.sample_size

    def set_sample_size(self, n: int) -> None:
        self.controls.set_sample_size(n)

    def _on_selection(self, index: int) -> None:
        self.action_delete_well.setEnabled(index >= 0)
        self.action_delete_well.setText(f"Delete Well {index + 1}" if index >= 0 else "Delete Well")

    def _add_well_in_view(self) -> None:
        (x0, x1), (y0, y1) = self.map.view_box.viewRange()
        self.doc.add_well(self.doc.new_well_at(0.5 * (x0 + x1), 0.5 * (y0 + y1)))

    def _on_cursor(self, cc1: float, cc2: float) -> None:
        doc = self.doc
        energy = float(doc.landscape.energy(cc1, cc2)) * doc.energy_scale
        basin = ""
        if doc.landscape.wells and not doc.is_previewing:  # basins are not redone per move
            grid = doc.live_grid
            basin = f"   basin of well {grid.basins.label[grid.cell_index(cc1, cc2)]}"
        self.sigStatusMessage.emit(f"cc1 = {cc1:.2f}°   cc2 = {cc2:.2f}°   "
                                   f"E = {energy:.2f} {doc.energy_unit}{basin}")
