"""The "Simulation" tab: make a dataset from the current landscape, in the background.

Left: the plan's fields (engine.sim_plan.SimulationPlan), pre-filled from the document's
current landscape and kept in step with it; the estimated disk size and run time; where to
write and how (local workers, or a Dask scheduler). Right: Start / Cancel / Resume, a progress
bar with rate and ETA, a log, and a gallery of the first particles of the dataset.
The run is ``engine.simulate.run_simulation`` through the one job runner (gui.jobs): the
window stays responsive, Cancel stops at the next batch and leaves a resumable folder.

Example::

    panel = SimulationPanel(doc)
    panel.output_edit.setText("/data/runs/ds1")
    panel.start()                    # sigRunFinished(SimulationResult) when done
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from engine.manifest import ManifestError, read_manifest
from engine.sim_plan import (ObjectSpec, PlanError, SimulationPlan, estimate_disk_bytes, format_bytes, load_plan,
                             plan_from_dict, save_plan)
from engine.executors import available_cpus
from engine.simulate import estimate_seconds, run_simulation
from gui.jobs import JobRunner
from gui.particle_gallery import ParticleGallery

GALLERY_SIZE = 12


def format_duration(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "--"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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


class SimulationPanel(QWidget):
    """Plan fields, Start / Cancel / Resume, progress, log and particle gallery.

    Signals: sigRunFinished(object SimulationResult) for complete and cancelled runs,
    sigStatusMessage(str) for the status bar.
    """

    sigRunFinished = Signal(object)
    sigStatusMessage = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self.runner = JobRunner(self)
        self._base_plan = SimulationPlan(landscape=document.landscape)  # object spec etc. of a loaded plan
        self._object_source = ""       # where the plan's object came from, for the Object label
        self._structure_tab = None     # the Structure tab followed (follow_structure_tab)
        self._gallery_loaded = False
        self._build()
        self.doc.sigLandscapeChanged.connect(self._on_landscape_changed)
        self.runner.sigProgress.connect(self._on_progress)
        self.runner.sigLog.connect(self._append_log)
        self.runner.sigFinished.connect(self._on_finished)
        self.runner.sigCancelled.connect(self._on_cancelled)
        self.runner.sigErrored.connect(self._on_errored)
        self.runner.sigRunningChanged.connect(self._update_buttons)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_landscape_changed(document.landscape)
        self._update_buttons(False)

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        QVBoxLayout(self).addWidget(splitter)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        splitter.addWidget(left)

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

        right = QWidget()
        right_layout = QVBoxLayout(right)
        splitter.addWidget(right)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume)
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right_layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        right_layout.addWidget(self.progress_bar)
        self.progress_label = QLabel("Not started")
        right_layout.addWidget(self.progress_label)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        right_layout.addWidget(self.log_view, 1)
        self.gallery = ParticleGallery("First particles", GALLERY_SIZE, 6)
        self.thumbnails = self.gallery.thumbnails
        right_layout.addWidget(self.gallery)
        splitter.setStretchFactor(1, 1)

        for w in (self.n_spin, self.box_spin, self.chunk_spin, self.workers_spin, self.seed_spin):
            w.valueChanged.connect(self._update_estimate)
        for w in (self.apix_spin, self.snr_spin, self.shift_spin):
            w.valueChanged.connect(self._update_estimate)
        self.output_edit.textChanged.connect(lambda _: self._update_buttons(self.runner.is_running()))
        self.orientation_combo.currentIndexChanged.connect(lambda i: self.star_edit.setEnabled(i == 1))
        self.star_edit.setEnabled(False)

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
        document's (as File > Open would)."""
        self._base_plan = plan
        if adopt_landscape and plan.landscape != self.doc.committed_landscape:
            self.doc.reset(plan.landscape)
            self._append_log(f"the plan's landscape {plan.landscape.name!r} is now the current landscape")
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

    # --- the object: set directly, or following the Structure tab ----------------------
    def set_object_spec(self, spec: ObjectSpec, source: str = "") -> None:
        """Simulate ``spec`` (engine.sim_plan.ObjectSpec) from now on; the other fields stay.
        For user maps the box and pixel size follow the map files (box from the header, pixel
        size "auto"). ``source``: shown after the Object label, e.g. "loaded in the Structure tab"."""
        self._base_plan = replace(self._base_plan, object=spec)
        self._object_source = source
        if spec.kind != "ribosome-like":
            from engine.maps import MapFileError, map_frame

            try:
                self.box_spin.setValue(map_frame(spec.map_paths[0]).box_size)
            except MapFileError as exc:
                self._append_log(f"warning: {exc}")
            self.apix_spin.setValue(0.0)
        self._update_object_label()
        self._update_estimate()

    def set_user_maps(self, request, obj=None) -> ObjectSpec:
        """Simulate the maps of ``request`` (gui.load_maps_dialog.MapsRequest: kind, first_path,
        second_path, pivot and axes). ``obj``: the TwoBodyObject loaded from it; its pivot
        (Angstrom from the box centre, whatever frame the user typed it in) and normalised axes
        are used. Without ``obj`` the request's pivot must be box-centred. Returns the spec."""
        from engine.maps import PIVOT_FRAME_BOX
        from gui.load_maps_dialog import KIND_MAPS

        if obj is None and request.pivot_frame != PIVOT_FRAME_BOX:
            raise ValueError("pivot_frame: a pivot in the map's frame needs the loaded object (obj)")
        pivot = tuple(map(float, obj.pivot_A if obj is not None else request.pivot_A))
        axis1 = tuple(map(float, obj.axis1 if obj is not None else request.axis1))
        axis2 = tuple(map(float, obj.axis2 if obj is not None else request.axis2))
        paths = [str(Path(request.first_path).resolve()), str(Path(request.second_path).resolve())]
        if request.kind == KIND_MAPS:
            spec = ObjectSpec(kind="two-maps", lsu_map=paths[0], ssu_map=paths[1], pivot_A=pivot, axis1=axis1, axis2=axis2)
        else:
            spec = ObjectSpec(kind="map-and-mask", full_map=paths[0], ssu_mask=paths[1], pivot_A=pivot, axis1=axis1,
                              axis2=axis2)
        self.set_object_spec(spec, "loaded in the Structure tab")
        return spec

    def follow_structure_tab(self, tab) -> None:
        """Keep the plan's object in step with ``tab`` (gui.structure_tab.StructureTab): on its
        sigObjectChanged, maps loaded there (``tab.maps_request``) become the plan's object (at
        full size: the tab's preview may be cropped) and its built-in object the built-in spec."""
        self._structure_tab = tab
        tab.sigObjectChanged.connect(self.on_structure_object)

    def on_structure_object(self, obj) -> None:
        """The Structure tab shows ``obj`` (engine.object_model.TwoBodyObject): follow it."""
        builtin = re.fullmatch(r"ribosome-like \(seed (\d+)\)", obj.name)
        request = getattr(self._structure_tab, "maps_request", None)
        if builtin:
            self.set_object_spec(ObjectSpec(seed=int(builtin.group(1))), "as in the Structure tab")
        elif request is not None:
            try:
                spec = self.set_user_maps(request, obj)
            except (PlanError, ValueError) as exc:
                self._append_log(f"error: the maps loaded in the Structure tab cannot be simulated: {exc}")
                return
            self._append_log(f"object: {', '.join(spec.map_paths)} (loaded in the Structure tab)")
        else:
            self._append_log(f"the Structure tab shows {obj.name!r}, which names no map files; the plan keeps "
                             f"its object ({self.object_label.text()})")

    def _update_estimate(self, *_) -> None:
        try:
            plan = self.plan()
            size = estimate_disk_bytes(plan)
            seconds = estimate_seconds(plan, self.workers_spin.value())
        except (PlanError, ValueError) as exc:
            self.estimate_label.setText(f"<span style='color:#c0392b'>{exc}</span>")
            return
        self.estimate_label.setText(f"{format_bytes(size)} on disk, about {format_duration(seconds)} "
                                    f"on {self.workers_spin.value()} local worker(s); "
                                    f"{plan.n_chunks:,} stack(s) at {plan.effective_apix_A():.3g} Å/px")

    # --- actions ------------------------------------------------------------------------
    def start(self) -> bool:
        """Start a new dataset in the output folder; False (with a log line) if refused."""
        try:
            plan = self.plan()
        except (PlanError, ValueError) as exc:
            self._append_log(f"error: {exc}")
            return False
        if not plan.output_folder:
            self._append_log("error: choose an output folder first")
            return False
        return self._run(plan, resume=False)

    def resume(self) -> bool:
        """Finish the dataset in the output folder with the plan stored in its manifest."""
        folder = self.output_edit.text().strip()
        try:
            manifest = read_manifest(folder)
            plan = plan_from_dict(manifest["plan"], f"{folder}/manifest.json")
        except (ManifestError, PlanError) as exc:
            self._append_log(f"error: {exc}")
            return False
        self.set_plan(replace(plan, output_folder=folder), adopt_landscape=False)
        return self._run(plan, resume=True)

    def cancel(self) -> None:
        if self.runner.is_running():
            self._append_log("cancelling: finishing the current batch…")
            self.runner.cancel()

    def shutdown(self) -> None:
        """Stop any run and wait for it (the folder stays resumable)."""
        self.runner.shutdown()

    def _run(self, plan: SimulationPlan, resume: bool) -> bool:
        folder = self.output_edit.text().strip()
        self._gallery_loaded = False
        self.gallery.clear()
        self.progress_bar.setValue(0)
        self.progress_label.setText("Preparing…")
        self._append_log(f"{'resuming' if resume else 'starting'} {plan.n_particles:,} particles in {folder}")
        scheduler = self.scheduler_edit.text().strip() or None
        self.runner.start(run_simulation, plan, folder, workers=self.workers_spin.value(), scheduler=scheduler,
                          resume=resume, name="simulation")
        return True

    # --- job signals (GUI thread) -------------------------------------------------------
    def _on_progress(self, p) -> None:
        self.progress_bar.setValue(int(round(1000 * p.fraction)))
        stage = {"images": "", "metadata": " — writing STAR, cryoDRGN, cryoSPARC and ground truth",
                 "complete": " — complete"}.get(p.stage, "")
        self.progress_label.setText(
            f"{p.particles_done:,} / {p.particles_total:,} images · {p.chunks_done}/{p.n_chunks} stacks · "
            f"{p.rate_per_s:,.0f} images/s · ETA {format_duration(p.eta_s)}{stage}")
        if not self._gallery_loaded and p.chunks_done > 0:
            self._load_gallery()

    def _on_finished(self, result) -> None:
        self._append_log(f"complete: {result.particles_total:,} particles in {format_duration(result.elapsed_s)} "
                         f"(noise sigma {result.noise.sigma:.4g})")
        self.progress_bar.setValue(1000)
        if not self._gallery_loaded:
            self._load_gallery()
        self.sigStatusMessage.emit(f"Dataset written to {result.folder}")
        self.sigRunFinished.emit(result)
        self._update_buttons(False)

    def _on_cancelled(self, result) -> None:
        if result is not None:
            self._append_log(f"cancelled: {result.particles_done:,} of {result.particles_total:,} particles "
                             "in finished stacks; Resume finishes the dataset")
            self.sigRunFinished.emit(result)
        else:
            self._append_log("cancelled before the first stack")
        self.progress_label.setText("Cancelled")
        self._update_buttons(False)

    def _on_errored(self, message: str) -> None:
        self._append_log(f"error: {message}")
        self.progress_label.setText("Failed")
        self._update_buttons(False)

    def _append_log(self, message: str) -> None:
        self.log_view.appendPlainText(message)

    def _update_buttons(self, running: bool) -> None:
        folder = self.output_edit.text().strip()
        resumable = False
        if folder and not running:
            try:
                resumable = read_manifest(folder)["status"] != "complete"
            except ManifestError:
                resumable = False
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(resumable)
        for w in (self.load_plan_button, self.n_spin, self.box_spin, self.output_edit):
            w.setEnabled(not running)

    # --- gallery ------------------------------------------------------------------------
    def _load_gallery(self) -> None:
        """Show the first images of the first finished stack."""
        folder = Path(self.output_edit.text().strip())
        try:
            done = [c for c in read_manifest(folder)["chunks"] if c["status"] == "done"]
        except ManifestError:
            return
        if done:
            self._gallery_loaded = self.gallery.show_stack(folder / done[0]["file"])

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
        try:
            self.set_plan(load_plan(path))
        except PlanError as exc:
            self._append_log(f"error: {exc}")
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

