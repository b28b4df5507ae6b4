"""CTF: RELION's formula and sign, zero crossings, astigmatism, envelope, layout."""
import math

import numpy as np
import pytest

from engine.imaging.ctf import CTFParams, ctf_2d, ctf_values, electron_wavelength_A, sample_defocus

NO_CS = CTFParams(voltage_kV=300.0, cs_mm=0.0, amplitude_contrast=0.0)


def test_electron_wavelength():
    # relativistic wavelengths (Angstrom) as RELION computes them
    assert electron_wavelength_A(300) == pytest.approx(0.019687, abs=2e-6)
    assert electron_wavelength_A(200) == pytest.approx(0.025079, abs=2e-6)
    assert electron_wavelength_A(100) == pytest.approx(0.037014, abs=2e-6)


def _zero_crossings(s, values):
    """Frequencies where values change sign, by linear interpolation between samples."""
    idx = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    return s[idx] - values[idx] * (s[idx + 1] - s[idx]) / (values[idx + 1] - values[idx])


def test_zero_crossings_without_cs_are_at_sqrt_n_over_lambda_dz():
    dz = 15000.0
    lam = electron_wavelength_A(300)
    s = np.linspace(1e-4, 0.25, 200001)
    zeros = _zero_crossings(s, ctf_values(s, 0.0, dz, dz, 0.0, NO_CS))
    expected = np.sqrt(np.arange(1, len(zeros) + 1) / (lam * dz))
    assert len(zeros) > 15
    np.testing.assert_allclose(zeros, expected, rtol=1e-5)


def test_zero_crossings_with_cs_and_amplitude_contrast():
    optics = CTFParams(300.0, 2.7, 0.1)
    dz = 20000.0
    lam, cs = electron_wavelength_A(300), 2.7e7
    k3 = math.atan(0.1 / math.sqrt(1 - 0.01))
    s = np.linspace(1e-4, 0.3, 300001)
    zeros = _zero_crossings(s, ctf_values(s, 0.0, dz, dz, 0.0, optics))
    n = np.arange(1, 11)
    # gamma(u = s^2) = -pi lam dz u + pi/2 Cs lam^3 u^2 - k3 = -n pi, smaller root
    a, b, c = 0.5 * math.pi * cs * lam ** 3, -math.pi * lam * dz, n * math.pi - k3
    u = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    np.testing.assert_allclose(zeros[:10], np.sqrt(u), rtol=1e-5)
    # first zero of a 2 um underfocus at 300 kV: about 1/(20 A)
    assert 1 / zeros[0] == pytest.approx(19.9, abs=0.3)


def test_low_frequency_sign_is_positive_protein_white():
    optics = CTFParams(300.0, 2.7, 0.1)
    s = np.linspace(0, 0.02, 50)
    c = ctf_values(s, 0.0, 15000.0, 15000.0, 0.0, optics)
    assert c[0] == pytest.approx(0.1, abs=1e-12)  # +Q0 at s = 0
    assert np.all(np.diff(c[:20]) > 0)  # rising towards the first (positive) peak
    # 90 degrees of phase shift with no amplitude contrast: full positive contrast at s = 0
    assert ctf_values(0.0, 0.0, 15000.0, 15000.0, 0.0, NO_CS, phase_shift_deg=90.0) == pytest.approx(1.0)


def test_astigmatism_direction():
    u_A, v_A, angle = 25000.0, 15000.0, 30.0
    lam = electron_wavelength_A(300)
    s = np.linspace(1e-4, 0.1, 200001)
    for theta, dz in [(angle, u_A), (angle + 90, v_A), (angle + 45, 0.5 * (u_A + v_A))]:
        t = np.deg2rad(theta)
        c = ctf_values(s * np.cos(t), s * np.sin(t), u_A, v_A, angle, NO_CS)
        assert _zero_crossings(s, c)[0] == pytest.approx(1 / math.sqrt(lam * dz), rel=1e-5)


def test_bfactor_envelope():
    s = np.linspace(0.01, 0.2, 20)
    base = ctf_values(s, 0.0, 12000.0, 12000.0, 0.0, CTFParams(bfactor_A2=0.0))
    damped = ctf_values(s, 0.0, 12000.0, 12000.0, 0.0, CTFParams(bfactor_A2=100.0))
    np.testing.assert_allclose(damped, base * np.exp(-100.0 * s ** 2 / 4), rtol=1e-12)


def test_ctf_2d_layout_matches_pointwise_values():
    optics = CTFParams(200.0, 2.0, 0.07, 50.0)
    dfu, dfv, ang = np.array([18000.0, 9000.0]), np.array([16000.0, 8500.0]), np.array([20.0, 135.0])
    d, apix = 32, 1.7
    half = ctf_2d(d, apix, dfu, dfv, ang, optics, phase_shift_deg=np.array([0.0, 40.0]))
    full = ctf_2d(d, apix, dfu, dfv, ang, optics, phase_shift_deg=np.array([0.0, 40.0]), rfft=False)
    assert half.shape == (2, d, d // 2 + 1) and half.dtype == np.float32
    assert full.shape == (2, d, d)
    # columns s_x >= 0 agree; at Nyquist the rfft layout uses +1/(2 apix), fft2 -1/(2 apix)
    np.testing.assert_array_equal(full[:, :, : d // 2], half[:, :, : d // 2])
    fy = np.fft.fftfreq(d) / apix
    for layout, fx in [(full, np.fft.fftfreq(d) / apix), (half, np.fft.rfftfreq(d) / apix)]:
        sx, sy = np.meshgrid(fx, fy)
        for b, phase in enumerate([0.0, 40.0]):
            expect = ctf_values(sx, sy, dfu[b], dfv[b], ang[b], optics, phase)
            np.testing.assert_allclose(layout[b], expect, atol=5e-5)
    # the CTF is centrosymmetric, C(-s) = C(s) (Nyquist row and column left out)
    inner = full[:, 1:, 1:]
    sym = full[:, :0:-1, :0:-1]
    keep = np.ones(d - 1, bool)
    keep[d // 2 - 1] = False
    np.testing.assert_allclose(inner[:, keep][:, :, keep], sym[:, keep][:, :, keep], atol=1e-6)


def test_parameters_are_validated_by_name():
    for kwargs, name in [({"voltage_kV": 0.0}, "voltage_kV"), ({"cs_mm": -1.0}, "cs_mm"),
                         ({"amplitude_contrast": 1.0}, "amplitude_contrast"), ({"bfactor_A2": -5.0}, "bfactor_A2")]:
        with pytest.raises(ValueError, match=name):
            CTFParams(**kwargs)
    with pytest.raises(ValueError, match="apix_A"):
        ctf_2d(32, 0.0, 1e4, 1e4, 0.0, CTFParams())


def test_sample_defocus():
    u, v, a = sample_defocus(5000, np.random.default_rng(3), 10000.0, 25000.0, 500.0)
    mean = 0.5 * (u + v)
    assert mean.min() >= 10000 and mean.max() <= 25000
    assert np.all(u >= v) and (u - v).max() <= 500 and (u - v).mean() == pytest.approx(250, rel=0.05)
    assert a.min() >= 0 and a.max() < 180
