"""The plan's fields in the "Simulation" tab: the form for engine.simulation.plan.SimulationPlan
(dataset, CTF and poses, output and workers), its validation and estimate, and the plan's
load / save dialogs.

``PlanFormMixin`` is mixed into gui.simulation.simulation_panel.SimulationPanel and uses its ``doc``
(gui.model.document.LandscapeDocument), ``_base_plan`` (the plan the fields do not cover: the object
spec etc.), ``_object_source`` (shown after the Object label), ``set_object_spec(spec)``
(gui.simulation.plan_object) and ``_append_log(str)``.
``_build_plan_form()`` returns the form's widget and sets the field attributes (``n_spin``,
``box_spin``, ``output_edit``, ``estimate_label``...); ``plan()`` reads them (PlanError or
ValueError names the bad field), ``set_plan(plan)`` fills them.

Example::

    panel = SimulationPanel(doc)        # a PlanFormMixin
    panel.box_spin.setValue(64)
    plan = panel.plan()                 # SimulationPlan with box_size=64
    panel.estimate_label.text()         # "... on disk, about ... on N local worker(s); ..."
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.cpus import available_cpus
from engine.simulation.plan import (
    PlanError,
    SimulationPlan,
    estimate_disk_bytes,
    format_bytes,
    format_duration,
    load_plan,
    save_plan,
)
from engine.simulation.run import estimate_seconds


def _spin(lo, hi, value, step=1, suffix="", special=None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    if special:
        box.setSpecialValueText(special)
    return box


def _dspin(lo, hi, value, decimals=2, step=0.1, suffix="", special=None) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    return box


class PlanFormMixin:
    """The plan's fields, estimate and plan dialogs (see the module docstring)."""

    def _build_plan_form(self) -> QWidget:
        """The form's widget (the tab's left side), its fields wired to the estimate."""
        left = QWidget()
        left_layout = QVBoxLayout(left)
        data = QGroupBox("Dataset")
        form = QFormLayout(data)
        self.landscape_label = QLabel()
        form.addRow("Landscape", self.landscape_label)
        self.object_label = QLabel()
        form.addRow("Object", self.object_label)
        self.n_spin = _spin(1, 2_000_000_000, 10_000, 1000)
        form.addRow("Particles", self.n_spin)
        self.box_spin = _spin(16, 1024, 128, 2, " px")
        form.addRow("Box size", self.box_spin)
        self.apix_spin = _dspin(0.0, 100.0, 0.0, 3, 0.1, " Å/px", special="auto (object fills the box)")
        form.addRow("Pixel size", self.apix_spin)
        self.snr_spin = _dspin(0.0, 1000.0, 1.0, 3, 0.1, special="no noise")
        form.addRow("SNR", self.snr_spin)
        self.seed_spin = _spin(0, 2_000_000_000, 0)
        form.addRow("Seed", self.seed_spin)
        left_layout.addWidget(data)

        optics = QGroupBox("CTF and poses")
        form = QFormLayout(optics)
        self.defocus_min = _dspin(0.1, 20.0, 1.0, 2, 0.1, " µm")
        self.defocus_max = _dspin(0.1, 20.0, 2.5, 2, 0.1, " µm")
        row = QHBoxLayout()
        row.addWidget(self.defocus_min)
        row.addWidget(QLabel("to"))
        row.addWidget(self.defocus_max)
        form.addRow("Defocus", row)
        self.astig_spin = _dspin(0.0, 5000.0, 500.0, 0, 50.0, " Å")
        form.addRow("Astigmatism up to", self.astig_spin)
        self.voltage_spin = _dspin(10.0, 3000.0, 300.0, 0, 100.0, " kV")
        form.addRow("Voltage", self.voltage_spin)
        self.cs_spin = _dspin(0.0, 20.0, 2.7, 2, 0.1, " mm")
        form.addRow("Cs", self.cs_spin)
        self.q0_spin = _dspin(0.0, 0.99, 0.1, 3, 0.01)
        form.addRow("Amplitude contrast", self.q0_spin)
        self.bfactor_spin = _dspin(0.0, 1000.0, 0.0, 1, 10.0, " Å²")
        form.addRow("B-factor", self.bfactor_spin)
        self.orientation_combo = QComboBox()
        self.orientation_combo.addItems(["uniform on SO(3)", "from a STAR file"])
        self.star_edit = QLineEdit()
        self.star_edit.setPlaceholderText("particles.star with rlnAngleRot/Tilt/Psi")
        star_browse = QPushButton("…")
        star_browse.clicked.connect(self._browse_star)
        row = QHBoxLayout()
        row.addWidget(self.orientation_combo)
        row.addWidget(self.star_edit, 1)
        row.addWidget(star_browse)
        form.addRow("Orientations", row)
        self.shift_spin = _dspin(0.0, 500.0, 0.0, 1, 1.0, " Å", special="none (centred)")
        form.addRow("Random shifts up to", self.shift_spin)
        left_layout.addWidget(optics)

        run = QGroupBox("Output and workers")
        form = QFormLayout(run)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("an empty or new folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        row = QHBoxLayout()
        row.addWidget(self.output_edit, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.chunk_spin = _spin(1, 1_000_000, 10_000, 1000)
        form.addRow("Particles per stack", self.chunk_spin)
        self.workers_spin = _spin(1, 1024, available_cpus())
        form.addRow("Local workers", self.workers_spin)
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("optional Dask scheduler, tcp://host:8786")
        form.addRow("Cluster", self.scheduler_edit)
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        form.addRow("Estimate", self.estimate_label)
        left_layout.addWidget(run)
        plans = QHBoxLayout()
        self.load_plan_button = QPushButton("Load plan…")
        self.load_plan_button.clicked.connect(self._load_plan_dialog)
        self.save_plan_button = QPushButton("Save plan…")
        self.save_plan_button.clicked.connect(self._save_plan_dialog)
        plans.addWidget(self.load_plan_button)
        plans.addWidget(self.save_plan_button)
        plans.addStretch(1)
        left_layout.addLayout(plans)
        left_layout.addStretch(1)

        for w in (self.n_spin, self.box_spin, self.chunk_spin, self.workers_spin, self.seed_spin):
            w.valueChanged.connect(self._update_estimate)
        # every field of the plan: the estimate and the document's plan (the preview's noise) follow
        for w in (self.apix_spin, self.snr_spin, self.shift_spin, self.defocus_min, self.defocus_max,
                  self.astig_spin, self.voltage_spin, self.cs_spin, self.q0_spin, self.bfactor_spin):
            w.valueChanged.connect(self._update_estimate)
        self.orientation_combo.currentIndexChanged.connect(self._update_estimate)
        self.star_edit.editingFinished.connect(self._update_estimate)
        self.orientation_combo.currentIndexChanged.connect(lambda i: self.star_edit.setEnabled(i == 1))
        self.star_edit.setEnabled(False)
        return left

    # --- plan <-> fields ----------------------------------------------------------------
    def plan(self) -> SimulationPlan:
        """The plan the fields describe (PlanError names the bad field)."""
        star = self.orientation_combo.currentIndex() == 1
        return replace(
            self._base_plan, landscape=self.doc.committed_landscape, n_particles=self.n_spin.value(),
            box_size=self.box_spin.value(), apix_A=self.apix_spin.value() or None,
            snr=self.snr_spin.value() or None, seed=self.seed_spin.value(),
            defocus_min_A=self.defocus_min.value() * 1e4, defocus_max_A=self.defocus_max.value() * 1e4,
            astigmatism_max_A=self.astig_spin.value(), voltage_kV=self.voltage_spin.value(),
            cs_mm=self.cs_spin.value(), amplitude_contrast=self.q0_spin.value(), bfactor_A2=self.bfactor_spin.value(),
            orientations="star" if star else "uniform", orientations_star=(self.star_edit.text().strip() or None) if star else None,
            max_shift_A=self.shift_spin.value(), chunk_size=self.chunk_spin.value(),
            output_folder=self.output_edit.text().strip() or None)

    def set_plan(self, plan: SimulationPlan, adopt_landscape: bool = True) -> None:
        """Fill the fields from ``plan``; with ``adopt_landscape`` its landscape replaces the
        document's (as File > Open would). Its object becomes the document's (set_object_spec,
        gui.simulation.plan_object)."""
        self._base_plan = plan
        if adopt_landscape and plan.landscape != self.doc.committed_landscape:
            self.doc.reset(plan.landscape)
            self._append_log(f"the plan's landscape {plan.landscape.name!r} is now the current landscape")
        self.set_object_spec(plan.object)
        self.n_spin.setValue(plan.n_particles)
        self.box_spin.setValue(plan.effective_box_size())
        self.apix_spin.setValue(plan.apix_A or 0.0)
        self.snr_spin.setValue(plan.snr or 0.0)
        self.seed_spin.setValue(plan.seed)
        self.defocus_min.setValue(plan.defocus_min_A / 1e4)
        self.defocus_max.setValue(plan.defocus_max_A / 1e4)
        self.astig_spin.setValue(plan.astigmatism_max_A)
        self.voltage_spin.setValue(plan.voltage_kV)
        self.cs_spin.setValue(plan.cs_mm)
        self.q0_spin.setValue(plan.amplitude_contrast)
        self.bfactor_spin.setValue(plan.bfactor_A2)
        self.orientation_combo.setCurrentIndex(1 if plan.orientations == "star" else 0)
        self.star_edit.setText(plan.orientations_star or "")
        self.shift_spin.setValue(plan.max_shift_A)
        self.chunk_spin.setValue(plan.chunk_size)
        if plan.output_folder:
            self.output_edit.setText(plan.output_folder)
        self._update_object_label()
        self._update_estimate()

    def _on_landscape_changed(self, landscape) -> None:
        self.landscape_label.setText(f"{landscape.name} ({len(landscape.wells)} wells, "
                                     f"{landscape.temperature_K:g} K), from the Landscape tab")
        self._update_object_label()
        self._update_estimate()

    def _update_object_label(self) -> None:
        spec = self._base_plan.object
        text = {"ribosome-like": f"built-in ribosome-like (seed {spec.seed})",
                "two-maps": f"maps {Path(spec.lsu_map or '').name} + {Path(spec.ssu_map or '').name}",
                "map-and-mask": f"map {Path(spec.full_map or '').name} + mask {Path(spec.ssu_mask or '').name}"}
        self.object_label.setText(text[spec.kind] + (f" ({self._object_source})" if self._object_source else ""))
        self.object_label.setToolTip("\n".join(spec.map_paths))

    def _update_estimate(self, *_) -> None:
        try:
            plan = self.plan()
            size = estimate_disk_bytes(plan)
            seconds = estimate_seconds(plan, self.workers_spin.value())
        except (PlanError, ValueError) as exc:
            self.estimate_label.setText(f"<span style='color:#c0392b'>{exc}</span>")
            return
        self.doc.set_simulation_plan(plan)  # the projection preview shows this plan's noise
        self.estimate_label.setText(f"{format_bytes(size)} on disk, about {format_duration(seconds)} "
                                    f"on {self.workers_spin.value()} local worker(s); "
                                    f"{plan.n_chunks:,} stack(s) at {plan.effective_apix_A():.3g} Å/px")

    # --- dialogs ------------------------------------------------------------------------
    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset folder", self.output_edit.text() or str(Path.cwd()))
        if path:
            self.output_edit.setText(path)

    def _browse_star(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Orientations from", str(Path.cwd()), "STAR (*.star)")
        if path:
            self.star_edit.setText(path)
            self.orientation_combo.setCurrentIndex(1)

    def _load_plan_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load simulation plan", str(Path.cwd()), "Plan JSON (*.json)")
        if path:
            self.load_plan(path)

    def load_plan(self, path) -> bool:
        """Fill the form from the plan file ``path``; False, with the engine's message (naming
        the file and the field) in a message box and the log, when it cannot be used."""
        try:
            self.set_plan(load_plan(path))
        except PlanError as exc:
            self._append_log(f"error: {exc}")
            QMessageBox.warning(self, "Cannot load plan", str(exc))
            return False
        self._append_log(f"loaded plan {path}")
        return True

    def _save_plan_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save simulation plan", str(Path.cwd() / "plan.json"),
                                              "Plan JSON (*.json)")
        if path:
            try:
                save_plan(self.plan(), path)
            except (PlanError, OSError) as exc:
                self._append_log(f"error: {exc}")
