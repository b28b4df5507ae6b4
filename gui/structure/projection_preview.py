"""Projection preview: one image of the current object and conformation, as the simulator
would make it, for Euler angles chosen with sliders or at random.

All science is the engine's: ``TwoBodyProjector.project`` makes the image, ``ctf_2d`` the
CTF and ``engine.imaging.noise`` the noise; this widget only collects the parameters
(:class:`PreviewSettings`) and shows the result. The image is drawn with row 0 at the top and
x to the right, as relion_display shows particles; ``sigProjectionChanged`` hands angles and
image to the 3D view, which puts the same image on a plane behind the object.

Noise: sigma is the one a dataset of the plan gets (engine.simulation.calibration.plan_noise,
DESIGN.md section 4): the mean variance of clean CTF-modulated images inside a circle of the
particle's diameter, over the dataset's calibration sample (conformations from the landscape,
the plan's orientations, defocus range and shifts, the same seed stream). The plan is the one
given with :meth:`ProjectionPreview.set_plan` (default: the default plan of the document's
landscape), with the object's box and pixel size and the SNR and optics on screen
(:func:`calibration_plan`); the defocus of the shown image is the preview's own. It is
recalibrated only when that plan (its SNR aside) or the object changes.

Example::

    preview = ProjectionPreview(document)
    preview.set_object(build_ribosome_like(box_size=128))
    preview.set_euler(30.0, 60.0, 0.0)
    preview.set_plan(plan); preview.set_mode(MODE_NOISY)
    preview.image()            # (D, D) float32, the image on screen
    preview.noise_sigma()      # the sigma in manifest.json of the plan's dataset
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.imaging.ctf import CTFParams, ctf_2d
from engine.imaging.noise import NoiseCalibration, add_white_noise
from engine.imaging.projector import TwoBodyProjector
from engine.landscape.presets import DEFAULT_PRESET, load_preset
from engine.simulation.calibration import plan_noise
from engine.simulation.plan import PlanError, SimulationPlan
from engine.structure.rotations import uniform_euler_angles

MODE_CLEAN, MODE_CTF, MODE_NOISY = "Clean", "With CTF", "With CTF + noise"
MODES = (MODE_CLEAN, MODE_CTF, MODE_NOISY)
FRAME_COLOUR = "#7333b3"           # the 3D view's beam arrow and image frame have this colour


@dataclass(frozen=True)
class PreviewSettings:
    """Everything that determines the preview image besides object and conformation.

    Euler angles RELION ZYZ in degrees; defocus in Angstrom (positive = underfocus);
    ``seed`` seeds the noise of the shown image.
    """

    rot_deg: float = 0.0
    tilt_deg: float = 90.0
    psi_deg: float = 0.0
    mode: str = MODE_CLEAN
    snr: float = 1.0
    seed: int = 0
    defocus_u_A: float = 15000.0
    defocus_v_A: float = 14500.0
    defocus_angle_deg: float = 30.0
    phase_shift_deg: float = 0.0
    optics: CTFParams = field(default_factory=CTFParams)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode: must be one of {MODES} (got {self.mode!r})")
        if not (math.isfinite(self.snr) and self.snr > 0):
            raise ValueError(f"snr: must be > 0 (got {self.snr})")
        for name in ("defocus_u_A", "defocus_v_A"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0 (got {getattr(self, name)})")

    @property
    def euler_deg(self) -> tuple[float, float, float]:
        return (self.rot_deg, self.tilt_deg, self.psi_deg)


def preview_image(obj, projector: TwoBodyProjector, settings: PreviewSettings,
                  cc_deg: tuple[float, float], sigma: float | None = None) -> np.ndarray:
    """The preview's (D, D) float32 image of ``obj`` (whose projector is ``projector``):
    engine calls only. ``sigma`` is needed for noise."""
    s = settings
    ctf = None if s.mode == MODE_CLEAN else ctf_2d(obj.box_size, obj.apix_A, [s.defocus_u_A], [s.defocus_v_A],
                                                   [s.defocus_angle_deg], s.optics, phase_shift_deg=s.phase_shift_deg)
    image = projector.project(np.array([settings.euler_deg]), np.array([cc_deg], float), ctf=ctf)
    if settings.mode == MODE_NOISY:
        image = add_white_noise(image, sigma, np.random.default_rng(settings.seed))
    return image[0]


def calibration_plan(obj, settings: PreviewSettings, plan: SimulationPlan) -> SimulationPlan:
    """``plan`` as the preview images it: the box and pixel size of ``obj`` (the preview's
    object, maybe Fourier-cropped), the SNR and optics (voltage, Cs, Q0, B) of ``settings``.
    PlanError when the plan cannot take them."""
    o = settings.optics
    return replace(plan, box_size=obj.box_size, apix_A=obj.apix_A, snr=settings.snr, voltage_kV=o.voltage_kV,
                   cs_mm=o.cs_mm, amplitude_contrast=o.amplitude_contrast, bfactor_A2=o.bfactor_A2)


def calibrated_sigma(obj, projector: TwoBodyProjector, settings: PreviewSettings,
                     plan: SimulationPlan | None = None) -> float:
    """Noise sigma of the dataset of ``calibration_plan(obj, settings, plan)`` (default plan:
    the default preset's landscape), as the simulation calibrates it (see module doc)."""
    plan = plan if plan is not None else SimulationPlan(landscape=load_preset(DEFAULT_PRESET))
    return plan_noise(calibration_plan(obj, settings, plan), projector).sigma


def wrapped_label(lines: int) -> QLabel:
    """A word-wrapped label of a fixed number of lines. (A plain word-wrapped label reports
    height-for-width, which makes a scroll area size its content to the preferred height.)"""
    label = QLabel()
    label.setWordWrap(True)
    policy = label.sizePolicy()
    policy.setHeightForWidth(False)
    label.setSizePolicy(policy)
    label.setFixedHeight(lines * label.fontMetrics().lineSpacing() + 4)
    return label


class SliderSpin(QWidget):
    """A slider and a spin box showing one value in degrees (0.1 degree steps)."""

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, value: float = 0.0, suffix: str = " °", parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(1)
        self.spin.setSingleStep(1.0)
        self.spin.setSuffix(suffix)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(82)
        self.set_range(lo, hi)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda v: self._set(v / 10.0))
        self.spin.valueChanged.connect(self._set)
        self.set_value(value)

    def set_range(self, lo: float, hi: float) -> None:
        self.slider.setRange(round(lo * 10), round(hi * 10))
        self.spin.setRange(lo, hi)

    def value(self) -> float:
        return self.spin.value()

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting valueChanged."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.spin.setValue(value)
        self.slider.setValue(round(self.spin.value() * 10))
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def _set(self, value: float) -> None:
        if abs(value - self.spin.value()) > 1e-9 or self.sender() is self.spin:
            self.set_value(value)
        self.valueChanged.emit(self.spin.value())


class _ImageCanvas(pg.GraphicsLayoutWidget):
    """The image's canvas asks for little room, so that in a scroll area it takes what is
    left and the controls below it stay in view."""

    def sizeHint(self) -> QSize:
        return QSize(260, 260)


class ProjectionPreview(QWidget):
    """Image of the current object for chosen angles, conformation from the document.

    Signals:
        sigProjectionChanged(object euler_deg (3,), object image (D, D) float32)
    """

    sigProjectionChanged = Signal(object, object)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self._doc = document
        self._projector: TwoBodyProjector | None = None
        self._obj = None
        self._image: np.ndarray | None = None
        self._plan: SimulationPlan | None = None
        self._noise: NoiseCalibration | None = None
        self._noise_key, self._noise_problem = None, ""
        self._rng = np.random.default_rng()
        self.last_update_ms = float("nan")
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.refresh)
        self._build()
        document.sigConformationChanged.connect(self._schedule)

    # --- public API ---------------------------------------------------------------------
    def set_object(self, obj, projector: TwoBodyProjector | None = None) -> None:
        """Use a new TwoBodyObject and its ``projector``. Building a projector (padded 3D
        FFTs) takes seconds at box 128 and more: the Structure tab builds it in its job
        runner and passes it here; without one it is built here, in the caller's thread."""
        if projector is not None and projector.obj is not obj:
            raise ValueError("projector: was built for another object")
        self._projector = projector if projector is not None else TwoBodyProjector(obj)
        self._obj = obj
        self._noise_key = None
        self.refresh()

    def set_plan(self, plan: SimulationPlan | None) -> None:
        """Calibrate the noise for the dataset of ``plan`` (None: the default plan of the
        document's landscape); the SNR and optics controls take the plan's values."""
        self._plan = plan
        if plan is not None:
            self.snr_spin.setValue(plan.snr if plan.snr is not None else self.snr_spin.value())
            for name in ("voltage_kV", "cs_mm", "amplitude_contrast", "bfactor_A2"):
                self._ctf_spins[name].setValue(getattr(plan, name))
        self._schedule()

    def calibration_plan(self) -> SimulationPlan:
        """The plan whose dataset's noise the noisy image has (module docstring); PlanError
        when there is none (a landscape without wells)."""
        base = self._plan if self._plan is not None else SimulationPlan(landscape=self._doc.landscape)
        return calibration_plan(self._obj, self.settings(), base)

    def settings(self) -> PreviewSettings:
        """The parameters shown in the controls."""
        c = {name: spin.value() for name, spin in self._ctf_spins.items()}
        return PreviewSettings(
            rot_deg=self.rot.value(), tilt_deg=self.tilt.value(), psi_deg=self.psi.value(),
            mode=self.mode_box.currentText(), snr=self.snr_spin.value(), seed=self.seed_spin.value(),
            defocus_u_A=c["defocus_u_A"], defocus_v_A=c["defocus_v_A"], defocus_angle_deg=c["defocus_angle_deg"],
            phase_shift_deg=c["phase_shift_deg"],
            optics=CTFParams(c["voltage_kV"], c["cs_mm"], c["amplitude_contrast"], c["bfactor_A2"]))

    def image(self) -> np.ndarray | None:
        """The (D, D) float32 image on screen (row 0 at the top), None before an object."""
        return self._image

    def noise_sigma(self) -> float | None:
        """Sigma of the noise in the last noisy image (None when noise is off or impossible)."""
        noisy = self.mode_box.currentText() == MODE_NOISY and self._noise is not None
        return self._noise.sigma if noisy else None

    def set_euler(self, rot_deg: float, tilt_deg: float, psi_deg: float) -> None:
        for control, value in ((self.rot, rot_deg), (self.tilt, tilt_deg), (self.psi, psi_deg)):
            control.set_value(value)
        self._schedule()

    def random_orientation(self) -> None:
        """Jump to an orientation drawn uniformly on SO(3)."""
        self.set_euler(*uniform_euler_angles(1, self._rng)[0])

    def set_mode(self, mode: str) -> None:
        self.mode_box.setCurrentText(mode)

    def set_snr(self, snr: float) -> None:
        self.snr_spin.setValue(snr)

    def set_ctf_value(self, name: str, value: float) -> None:
        """Set one CTF control by its PreviewSettings/CTFParams field name."""
        self._ctf_spins[name].setValue(value)

    def refresh(self) -> None:
        """Recompute and show the image now (changes are otherwise coalesced per event loop)."""
        self._timer.stop()
        if self._projector is None:
            return
        start = time.perf_counter()
        s = self.settings()
        if s.mode == MODE_NOISY:
            self._calibrate()
            if self._noise is None:
                s = replace(s, mode=MODE_CTF)  # no plan to calibrate for: the caption says why
        sigma = self._noise.sigma if s.mode == MODE_NOISY else None
        self._image = preview_image(self._obj, self._projector, s, self._doc.conformation, sigma)
        lo, hi = np.percentile(self._image, [0.5, 99.5])
        self._item.setImage(self._image, levels=(lo, hi if hi > lo else lo + 1))
        self._view.setRange(xRange=(0, self._image.shape[1]), yRange=(0, self._image.shape[0]), padding=0.0)
        self._caption.setText(self._describe(s))
        self.sigProjectionChanged.emit(np.array(s.euler_deg), self._image)
        self.last_update_ms = 1e3 * (time.perf_counter() - start)

    def _calibrate(self) -> None:
        """Calibrate the noise for the current plan unless done (set_object forgets it); the
        signal variance does not depend on the SNR, so a new SNR costs nothing."""
        try:
            plan = self.calibration_plan()
        except PlanError as exc:
            self._noise, self._noise_key, self._noise_problem = None, None, str(exc)
            return
        # what the calibration sample depends on: not the SNR, the dataset's size or its files
        signal_plan = replace(plan, snr=None, n_particles=1, chunk_size=1, write_cryosparc=False, output_folder=None)
        if signal_plan != self._noise_key:  # dataclass equality: cheaper than the JSON key, same meaning
            self._noise, self._noise_key = plan_noise(signal_plan, self._projector), signal_plan
        self._noise = self._noise.at_snr(plan.snr)

    # --- widgets ------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._canvas = _ImageCanvas()
        self._canvas.setBackground("w")
        self._canvas.setStyleSheet(f"border: 3px solid {FRAME_COLOUR};")
        self._canvas.setMinimumSize(240, 240)
        self._canvas.setMaximumHeight(360)
        self._view = self._canvas.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self._view.setDefaultPadding(0.0)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._view.addItem(self._item)
        layout.addWidget(self._canvas, 1)
        self._caption = wrapped_label(lines=3)
        layout.addWidget(self._caption)

        angles = QGroupBox("Orientation (RELION rot, tilt, psi)")
        form = QFormLayout(angles)
        self.rot = SliderSpin(-180.0, 180.0, 0.0)
        self.tilt = SliderSpin(0.0, 180.0, 90.0)
        self.psi = SliderSpin(-180.0, 180.0, 0.0)
        for label, control in (("rot", self.rot), ("tilt", self.tilt), ("psi", self.psi)):
            control.valueChanged.connect(self._schedule)
            form.addRow(label, control)
        self.random_button = QPushButton("Random orientation")
        self.random_button.clicked.connect(self.random_orientation)
        form.addRow(self.random_button)
        layout.addWidget(angles)

        image_box = QGroupBox("Image")
        row = QHBoxLayout(image_box)
        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.snr_spin = QDoubleSpinBox(decimals=3, minimum=0.001, maximum=1000.0, value=1.0, singleStep=0.1,
                                       keyboardTracking=False)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, keyboardTracking=False)
        self.snr_spin.setToolTip("Signal-to-noise ratio, the datasets' definition (DESIGN.md 4)")
        self.seed_spin.setToolTip("Seed of the noise in this image")
        self.snr_spin.setMaximumWidth(80)
        self.seed_spin.setMaximumWidth(80)
        for widget in (self.mode_box, QLabel("SNR"), self.snr_spin, QLabel("seed"), self.seed_spin):
            row.addWidget(widget)
        for signal in (self.mode_box.currentIndexChanged, self.snr_spin.valueChanged, self.seed_spin.valueChanged):
            signal.connect(self._schedule)
        self.mode_box.currentIndexChanged.connect(self._update_enabled)
        layout.addWidget(image_box)

        self._ctf_box = QGroupBox("CTF")
        grid = QGridLayout(self._ctf_box)
        grid.setHorizontalSpacing(6)
        defaults = PreviewSettings()
        spec = (  # field, label, min, max, step, decimals, default
            ("defocus_u_A", "Defocus U (Å)", 100.0, 100000.0, 500.0, 0, defaults.defocus_u_A),
            ("defocus_v_A", "Defocus V (Å)", 100.0, 100000.0, 500.0, 0, defaults.defocus_v_A),
            ("defocus_angle_deg", "Astig. angle (°)", -180.0, 180.0, 5.0, 1, defaults.defocus_angle_deg),
            ("phase_shift_deg", "Phase shift (°)", -180.0, 180.0, 5.0, 1, defaults.phase_shift_deg),
            ("voltage_kV", "Voltage (kV)", 60.0, 1000.0, 100.0, 0, defaults.optics.voltage_kV),
            ("cs_mm", "Cs (mm)", 0.0, 10.0, 0.1, 2, defaults.optics.cs_mm),
            ("amplitude_contrast", "Ampl. contrast", 0.0, 0.99, 0.01, 3, defaults.optics.amplitude_contrast),
            ("bfactor_A2", "B-factor (Å²)", 0.0, 1000.0, 10.0, 1, defaults.optics.bfactor_A2),
        )
        self._ctf_spins: dict[str, QDoubleSpinBox] = {}
        for k, (name, label, lo, hi, step, decimals, value) in enumerate(spec):
            spin = QDoubleSpinBox(decimals=decimals, minimum=lo, maximum=hi, singleStep=step,
                                  value=value, keyboardTracking=False)
            spin.valueChanged.connect(self._schedule)
            spin.setMaximumWidth(90)
            row, col = divmod(k, 2)   # two label + spin box pairs per row
            grid.addWidget(QLabel(label), row, 2 * col)
            grid.addWidget(spin, row, 2 * col + 1)
            self._ctf_spins[name] = spin
        layout.addWidget(self._ctf_box)
        self._update_enabled()

    def _update_enabled(self) -> None:
        mode = self.mode_box.currentText()
        self._ctf_box.setEnabled(mode != MODE_CLEAN)
        self.snr_spin.setEnabled(mode == MODE_NOISY)
        self.seed_spin.setEnabled(mode == MODE_NOISY)

    def _schedule(self, *_) -> None:
        self._timer.start()

    def _describe(self, s: PreviewSettings) -> str:
        cc1, cc2 = self._doc.conformation
        obj = self._obj
        text = (f"<b>Projection</b> (seen along the purple beam in the 3D view): rot {s.rot_deg:.1f}°, tilt {s.tilt_deg:.1f}°, "
                f"psi {s.psi_deg:.1f}° · cc1 {cc1:.1f}°, cc2 {cc2:.1f}° · box {obj.box_size}, "
                f"{obj.apix_A:.2f} Å/px · {s.mode.lower()}")
        if self.mode_box.currentText() == MODE_NOISY:
            text += f" (SNR {s.snr:g})" if self._noise is not None else f" (no noise: {self._noise_problem})"
        return text
