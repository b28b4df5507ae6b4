"""Projection preview: the widget shows the engine's image for the parameters on screen."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.imaging.ctf import CTFParams, ctf_2d
from engine.imaging.noise import particle_mask_radius_px, signal_variance
from engine.structure.object_model import build_ribosome_like
from engine.landscape.presets import load_preset
from engine.imaging.projector import TwoBodyProjector
from engine.simulation.manifest import read_manifest
from engine.simulation.objects import build_object
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from gui.model.document import LandscapeDocument
from gui.structure.projection_preview import MODE_CLEAN, MODE_CTF, MODE_NOISY, PreviewSettings, ProjectionPreview

BOX = 48


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(box_size=BOX)


@pytest.fixture(scope="module")
def projector(obj):
    return TwoBodyProjector(obj)


@pytest.fixture
def doc():
    d = LandscapeDocument(load_preset("paper-3x4"))
    d.set_conformation(6.0, -4.0)
    return d


@pytest.fixture
def preview(qtbot, doc, obj):
    p = ProjectionPreview(doc)
    qtbot.addWidget(p)
    p.set_object(obj)
    return p


def _engine_image(projector, obj, euler, cc, ctf_settings=None):
    ctf = None
    if ctf_settings is not None:
        s = ctf_settings
        ctf = ctf_2d(BOX, obj.apix_A, [s.defocus_u_A], [s.defocus_v_A], [s.defocus_angle_deg],
                     s.optics, phase_shift_deg=s.phase_shift_deg)
    return projector.project(np.array([euler], float), np.array([cc], float), ctf=ctf)[0]


def test_clean_image_is_the_engine_projection(preview, projector, obj, doc, qtbot):
    preview.rot.slider.setValue(335)          # 33.5 degrees, as a user drags the slider
    preview.tilt.spin.setValue(61.0)
    preview.psi.spin.setValue(-20.0)
    preview.refresh()
    expected = _engine_image(projector, obj, (33.5, 61.0, -20.0), (6.0, -4.0))
    np.testing.assert_array_equal(preview.image(), expected)
    # the conformation comes from the document
    doc.set_conformation(-12.0, 8.0)
    qtbot.waitUntil(lambda: not np.array_equal(preview.image(), expected), timeout=2000)
    np.testing.assert_array_equal(preview.image(),
                                  _engine_image(projector, obj, (33.5, 61.0, -20.0), (-12.0, 8.0)))


def test_euler_sliders_change_the_image(preview, qtbot):
    images = [preview.image().copy()]
    for control, value in ((preview.rot, 800), (preview.tilt, 300), (preview.psi, -900)):
        with qtbot.waitSignal(preview.sigProjectionChanged, timeout=2000) as blocker:
            control.slider.setValue(value)
        euler, image = blocker.args
        assert not np.array_equal(image, images[-1])
        images.append(image.copy())
    np.testing.assert_allclose(euler, (80.0, 30.0, -90.0))


def test_random_orientation_button(preview, qtbot):
    before = preview.settings().euler_deg
    with qtbot.waitSignal(preview.sigProjectionChanged, timeout=2000):
        qtbot.mouseClick(preview.random_button, Qt.MouseButton.LeftButton)
    after = preview.settings().euler_deg
    assert after != before
    assert 0.0 <= after[1] <= 180.0 and -180.0 <= after[0] <= 180.0


def test_ctf_mode_is_the_engine_ctf_image(preview, projector, obj):
    clean = preview.image().copy()
    preview.set_mode(MODE_CTF)
    preview.set_ctf_value("defocus_u_A", 21000.0)
    preview.set_ctf_value("voltage_kV", 200.0)
    preview.set_ctf_value("bfactor_A2", 50.0)
    preview.refresh()
    s = preview.settings()
    assert (s.defocus_u_A, s.optics) == (21000.0, CTFParams(200.0, 2.7, 0.1, 50.0))
    ctf_image = preview.image()
    np.testing.assert_array_equal(ctf_image, _engine_image(projector, obj, s.euler_deg, (6.0, -4.0), s))
    assert np.abs(ctf_image - clean).max() > 0.1 * np.abs(clean).max()
    assert preview._ctf_box.isEnabled()
    preview.set_mode(MODE_CLEAN)
    preview.refresh()
    assert not preview._ctf_box.isEnabled()
    np.testing.assert_array_equal(preview.image(), clean)


def test_noise_has_the_chosen_snr(preview, projector, obj):
    """Measured over many orientations with the datasets' definition, SNR is the one chosen."""
    preview.set_mode(MODE_NOISY)
    preview.set_snr(0.5)
    rng = np.random.default_rng(5)
    signal, noise = [], []
    for k in range(48):
        preview._rng = rng
        preview.random_orientation()
        preview.seed_spin.setValue(k)
        preview.refresh()
        s = preview.settings()
        clean = _engine_image(projector, obj, s.euler_deg, (6.0, -4.0), s)
        signal.append(clean)
        noise.append(preview.image() - clean)
    noise = np.array(noise)
    measured = signal_variance(np.array(signal), particle_mask_radius_px(obj.diameter_A, obj.apix_A, BOX)) / noise.var()
    assert measured == pytest.approx(0.5, rel=0.12)
    assert abs(noise.mean()) < 0.05 * noise.std()
    assert noise.std() == pytest.approx(preview.noise_sigma(), rel=0.02)
    # the same seed gives the same image; another seed another one
    first = preview.image().copy()
    preview.refresh()
    np.testing.assert_array_equal(preview.image(), first)
    preview.seed_spin.setValue(1000)
    preview.refresh()
    assert not np.array_equal(preview.image(), first)


def test_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="snr"):
        PreviewSettings(snr=0.0)
    with pytest.raises(ValueError, match="mode"):
        PreviewSettings(mode="sepia")


def test_a_projector_prepared_elsewhere_is_used_not_rebuilt(qtbot, doc, obj, projector):
    """The Structure tab builds projectors in its job runner and hands them over."""
    p = ProjectionPreview(doc)
    qtbot.addWidget(p)
    p.set_object(obj, projector)
    assert p._projector is projector
    np.testing.assert_array_equal(p.image(), _engine_image(projector, obj, (0.0, 90.0, 0.0), (6.0, -4.0)))
    with pytest.raises(ValueError, match="another object"):
        p.set_object(build_ribosome_like(box_size=32), projector)
    assert p._projector is projector


def test_noisy_preview_of_a_plan_has_the_sigma_of_its_dataset(qtbot, doc, tmp_path, monkeypatch):
    """The preview calibrates like the simulation (the dataset's conformations, orientations,
    defocus range and shifts, the same seed stream and mask): its sigma is manifest.json's."""
    plan = SimulationPlan(landscape=doc.landscape, n_particles=120, box_size=32, chunk_size=100, seed=7, snr=0.4,
                          max_shift_A=6.0, defocus_min_A=8000.0, defocus_max_A=30000.0, voltage_kV=200.0,
                          bfactor_A2=30.0)
    obj = build_object(plan)
    preview = ProjectionPreview(doc)
    qtbot.addWidget(preview)
    preview.set_object(obj)
    preview.set_mode(MODE_NOISY)
    preview.refresh()
    default_sigma = preview.noise_sigma()
    preview.set_plan(plan)
    preview.refresh()
    assert preview.settings().snr == 0.4 and preview.settings().optics == CTFParams(200.0, 2.7, 0.1, 30.0)
    run_simulation(plan, tmp_path / "ds", workers=1)
    noise = read_manifest(tmp_path / "ds")["noise"]
    assert preview.noise_sigma() == noise["sigma"] and noise["snr"] == 0.4
    assert noise["mask_radius_px"] == particle_mask_radius_px(obj.diameter_A, obj.apix_A, 32)
    assert default_sigma != noise["sigma"]
    # neither the shown image's own defocus nor the SNR needs a new calibration
    import gui.structure.projection_preview as module

    monkeypatch.setattr(module, "plan_noise", lambda *a: pytest.fail("calibrated again"))
    preview.set_ctf_value("defocus_u_A", 30000.0)
    preview.refresh()
    assert preview.noise_sigma() == noise["sigma"]
    preview.set_snr(0.1)
    preview.refresh()
    assert preview.noise_sigma() == pytest.approx(2 * noise["sigma"], rel=1e-12)
    monkeypatch.undo()
    preview.set_plan(None)
    preview.refresh()
    assert preview.noise_sigma() not in (None, noise["sigma"])


def test_a_landscape_without_wells_shows_the_ctf_image_and_says_why(qtbot, obj):
    from dataclasses import replace

    empty = LandscapeDocument(replace(load_preset("paper-3x4"), wells=()))
    preview = ProjectionPreview(empty)
    qtbot.addWidget(preview)
    preview.set_object(obj)
    preview.set_mode(MODE_NOISY)
    preview.refresh()
    assert preview.noise_sigma() is None and "no noise" in preview._caption.text()
