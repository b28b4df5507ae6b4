"""The "Simulation" tab: make a dataset from the current landscape, in the background.

Left: the plan's fields (engine.simulation.plan.SimulationPlan), pre-filled from the document's
current landscape and kept in step with it; the estimated disk size and run time; where to
write and how (local workers, or a Dask scheduler). Right: Start / Cancel / Resume, a progress
bar with rate and ETA, a log, and a gallery of the first particles of the dataset.
The run is ``engine.simulation.run.run_simulation`` through the one job runner (gui.widgets.jobs): the
window stays responsive, Cancel stops at the next batch and leaves a resumable folder.
The form lives in gui.simulation.plan_form, the plan's object (the document's current object, the
one the Structure tab shows) in gui.simulation.plan_object; this module holds the run controls,
progress, log and gallery.

Example::

    panel = SimulationPanel(doc)
    panel.output_edit.setText("/data/runs/ds1")
    panel.start()                    # sigRunFinished(SimulationResult) when done
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.simulation.manifest import ManifestError, read_manifest
from engine.simulation.plan import PlanError, SimulationPlan, format_duration, plan_from_dict
from engine.simulation.run import run_simulation
from gui.widgets.jobs import JobRunner
from gui.simulation.particle_gallery import ParticleGallery
from gui.simulation.plan_form import PlanFormMixin
from gui.simulation.plan_object import PlanObjectMixin

GALLERY_SIZE = 12


class SimulationPanel(PlanFormMixin, PlanObjectMixin, QWidget):
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
        self._gallery_loaded = False
        self._build()
        self.doc.sigLandscapeChanged.connect(self._on_landscape_changed)
        self.doc.sigObjectChanged.connect(self._on_document_object)
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
        self._on_document_object(document.current_object)
        self._update_buttons(False)

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        QVBoxLayout(self).addWidget(splitter)
        splitter.addWidget(self._build_plan_form())

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

        self.output_edit.textChanged.connect(lambda _: self._update_buttons(self.runner.is_running()))

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
