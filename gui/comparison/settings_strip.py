"""The Comparison tab's scoring settings strip: output dimensions, core particles only (with
the dataset's core flags or a core radius) and the wells scored.

Each edit becomes one ``ComparisonModel.update_settings`` call; the strip shows the model's
settings back from ``sigSettingsChanged`` (a bad dimensions text is refused with a status
message and the last good settings shown again).

Example::

    strip = ScoringSettingsStrip(model)
    strip.sigStatusMessage.connect(status_bar.showMessage)
    strip.show_dataset(dataset)          # one well button per well, the landscape's core radius
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QToolButton, QWidget

from engine.scoring.comparison import parse_dims
from gui.widgets.palette import well_colour

DIMS_PRESETS = ("0,1", "0,1,2", "all")


class WellToggles(QWidget):
    """One checkable button per well, in the well's colour; sigChanged(frozenset or None)."""

    sigChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.buttons: list[QToolButton] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.all_button = QToolButton()
        self.all_button.setText("All")
        self.all_button.setToolTip("Score every well")
        self.all_button.clicked.connect(lambda: self.set_wells(None, emit=True))
        self._layout.addWidget(self.all_button)

    def set_count(self, n_wells: int) -> None:
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for w in range(1, n_wells + 1):
            button = QToolButton()
            button.setText(str(w))
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Score well {w}")
            colour = QColor(well_colour(w))
            text = "#000000" if colour.lightnessF() > 0.55 else "#ffffff"
            button.setStyleSheet(
                f"QToolButton {{ min-width: 20px; padding: 1px 2px; border: 1px solid #9a9a9a; "
                f"border-radius: 3px; background: #ececec; color: #8a8a8a; }}"
                f"QToolButton:checked {{ background: {colour.name()}; color: {text}; border-color: #404040; }}")
            button.toggled.connect(self._emit)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self.buttons.append(button)

    def wells(self):
        chosen = frozenset(k + 1 for k, b in enumerate(self.buttons) if b.isChecked())
        return None if len(chosen) == len(self.buttons) else chosen

    def set_wells(self, wells, emit: bool = False) -> None:
        for k, button in enumerate(self.buttons):
            button.blockSignals(True)
            button.setChecked(wells is None or (k + 1) in wells)
            button.blockSignals(False)
        if emit:
            self._emit()

    def _emit(self, *_):
        if self.buttons and not any(b.isChecked() for b in self.buttons):
            self.sender().setChecked(True)  # at least one well stays scored
            return
        self.sigChanged.emit(self.wells())


class ScoringSettingsStrip(QWidget):
    """See the module docstring. Signals: sigStatusMessage(str)."""

    sigStatusMessage = Signal(str)

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        scoring = QHBoxLayout(self)
        scoring.setContentsMargins(0, 0, 0, 0)
        scoring.addWidget(QLabel("Dimensions:"))
        self.dims_combo = QComboBox()
        self.dims_combo.setEditable(True)
        self.dims_combo.addItems(list(DIMS_PRESETS))
        self.dims_combo.setToolTip("Output dimensions scored, 0-based (e.g. 0,1 or 0,2,3), or 'all'")
        self.dims_combo.setMinimumWidth(80)
        self.dims_combo.lineEdit().editingFinished.connect(self._dims_edited)
        self.dims_combo.activated.connect(self._dims_edited)
        scoring.addWidget(self.dims_combo)
        scoring.addSpacing(12)
        self.core_check = QCheckBox("Core particles only")
        self.core_check.setToolTip("Leave transition particles out of the metric")
        self.core_check.toggled.connect(self._core_edited)
        scoring.addWidget(self.core_check)
        scoring.addWidget(QLabel("radius:"))
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(0.0, 180.0)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setDecimals(1)
        self.radius_spin.setSuffix(" °")
        self.radius_spin.setSpecialValueText("dataset's flags")
        self.radius_spin.setToolTip("Core radius around each well centre in (cc1, cc2); "
                                    "the lowest value uses the dataset's own core flags")
        self.radius_spin.setKeyboardTracking(False)
        self.radius_spin.valueChanged.connect(self._core_edited)
        scoring.addWidget(self.radius_spin)
        scoring.addSpacing(12)
        scoring.addWidget(QLabel("Wells scored:"))
        self.well_toggles = WellToggles()
        self.well_toggles.sigChanged.connect(self._wells_edited)
        scoring.addWidget(self.well_toggles)
        scoring.addStretch(1)
        comparison.sigSettingsChanged.connect(self._show_settings)

    def show_dataset(self, dataset) -> None:
        """A new dataset: its wells, and its landscape's core radius (else its core flags)."""
        self.well_toggles.set_count(dataset.n_wells)
        self.well_toggles.set_wells(self.comparison.settings.wells)
        radius = dataset.landscape.core_radius_deg if dataset.landscape is not None else None
        self.radius_spin.blockSignals(True)
        self.radius_spin.setValue(radius or 0.0)
        self.radius_spin.blockSignals(False)
        self._core_edited()

    def _dims_edited(self, *_):
        try:
            self.comparison.update_settings(dims=parse_dims(self.dims_combo.currentText()))
        except ValueError as exc:
            self.sigStatusMessage.emit(str(exc))
            self._show_settings(self.comparison.settings)

    def _core_edited(self, *_):
        radius = self.radius_spin.value()
        core = self.core_check.isChecked()
        # the radius matters only for core-only scoring: leave it out otherwise (no re-scoring)
        self.comparison.update_settings(core_only=core,
                                        core_radius_deg=radius if core and radius > self.radius_spin.minimum() else None)

    def _wells_edited(self, wells) -> None:
        self.comparison.update_settings(wells=wells)

    def _show_settings(self, settings) -> None:
        if self.dims_combo.currentText() != settings.dims_text:
            self.dims_combo.setEditText(settings.dims_text)
        self.well_toggles.set_wells(settings.wells)
