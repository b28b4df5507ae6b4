"""Where a method runs: here (local processes) or on SLURM, with what the scheduler should give.

Local runs use the machine as it is (``runner()`` is None: the catalog's default
LocalRunner). SLURM runs submit one sbatch script per step through
:class:`engine.methods.slurm.SlurmRunner`: partition, time limit (min), CPUs, GPUs, memory
(GB) and a template file whose lines go into every script; the resources reach the method's
options through ``engine.methods.catalog.with_resources`` (RELION sizes its MPI ranks from
the CPUs), so the command lines shown are the ones that run.

Example::

    place = RunPlaceForm()
    place.where_combo.setCurrentText("SLURM")
    options = place.apply(method.options())      # with_resources(...) on SLURM
    method.run(dataset, options=options, runner=place.runner())
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from engine.methods.catalog import with_resources
from engine.methods.process import StepResources
from engine.methods.slurm import SlurmRunner, SlurmSettings

LOCAL, SLURM = "Local", "SLURM"
MAX_CPUS, MAX_GPUS = 1024, 16
MAX_TIME_MIN = 60 * 24 * 30
MAX_MEMORY_GB = 4096.0


def _spin(lo: int, hi: int, value: int, special: str = "", suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    return box


class RunPlaceForm(QWidget):
    """Local / SLURM and the SLURM fields (shown only for SLURM).

    Signals: sigChanged(): the place or a SLURM field changed."""

    sigChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.where_combo = QComboBox()
        self.where_combo.addItems([LOCAL, SLURM])
        self.where_combo.setToolTip("Local: child processes of elbench on this machine; "
                                    "SLURM: one sbatch job per step (the job folder must be on a shared file system)")
        layout.addRow("Where to run", self.where_combo)
        self.partition_edit = QLineEdit()
        self.partition_edit.setPlaceholderText("the cluster's default")
        self.time_spin = _spin(0, MAX_TIME_MIN, 0, "the partition's limit", " min")
        self.cpus_spin = _spin(1, MAX_CPUS, 4)
        self.gpus_spin = _spin(0, MAX_GPUS, 0)
        self.memory_spin = QDoubleSpinBox()
        self.memory_spin.setRange(0.0, MAX_MEMORY_GB)
        self.memory_spin.setDecimals(1)
        self.memory_spin.setSuffix(" GB")
        self.memory_spin.setSpecialValueText("the partition's default")
        self.template_edit = QLineEdit()
        self.template_edit.setPlaceholderText("none")
        self.template_edit.setToolTip("A file whose lines go into every sbatch script after elbench's "
                                      "#SBATCH lines (#SBATCH --account=..., module load ...)")
        self.template_button = QPushButton("Browse…")
        self.template_button.clicked.connect(self._browse_template)
        template_row = QHBoxLayout()
        template_row.addWidget(self.template_edit, 1)
        template_row.addWidget(self.template_button)
        self._slurm_rows = [("Partition", self.partition_edit), ("Time limit", self.time_spin),
                            ("CPUs", self.cpus_spin), ("GPUs", self.gpus_spin), ("Memory", self.memory_spin),
                            ("sbatch template", template_row)]
        for label, widget in self._slurm_rows:
            layout.addRow(label, widget)
        self.where_combo.currentTextChanged.connect(self._on_where_changed)
        for edit in (self.partition_edit, self.template_edit):
            edit.textChanged.connect(self.sigChanged)
        for spin in (self.time_spin, self.cpus_spin, self.gpus_spin, self.memory_spin):
            spin.valueChanged.connect(self.sigChanged)
        self._on_where_changed(LOCAL)

    def is_slurm(self) -> bool:
        return self.where_combo.currentText() == SLURM

    def resources(self) -> StepResources:
        return StepResources(tasks=1, cpus_per_task=self.cpus_spin.value(), gpus=self.gpus_spin.value(),
                             memory_GB=self.memory_spin.value() or None,
                             time_limit_min=self.time_spin.value() or None)

    def settings(self) -> SlurmSettings:
        """The SLURM settings; ValueError names a partition or template that cannot work."""
        partition = self.partition_edit.text().strip() or None
        template = self.template_edit.text().strip()
        settings = SlurmSettings(partition=partition, template_path=template or None)
        if template and not settings.template_path.is_file():
            raise ValueError(f"sbatch template {settings.template_path}: no such file")
        return settings

    def apply(self, options):
        """``options`` asking SLURM for the resources set here; unchanged for a local run."""
        return with_resources(options, self.resources()) if self.is_slurm() else options

    def runner(self):
        """The step runner: None (local processes) or a SlurmRunner; ValueError as settings()."""
        return SlurmRunner(self.settings()) if self.is_slurm() else None

    def set_enabled(self, enabled: bool) -> None:
        for widget in (self.where_combo, self.partition_edit, self.time_spin, self.cpus_spin, self.gpus_spin,
                       self.memory_spin, self.template_edit, self.template_button):
            widget.setEnabled(enabled)

    def _on_where_changed(self, where: str) -> None:
        layout: QFormLayout = self.layout()
        for _, widget in self._slurm_rows:
            layout.setRowVisible(widget, where == SLURM)
        self.sigChanged.emit()

    def _browse_template(self) -> None:
        start = self.template_edit.text().strip() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "sbatch template", start)
        if path:
            self.template_edit.setText(path)
