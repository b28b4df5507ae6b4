"""Our projections equal Debian's ``relion_project`` (RELION 3.1) for the same map, Euler angles,
origins and CTF: this pins angle, shift, CTF sign, astigmatism, phase shift and B-factor
conventions to RELION's. Each convention also gets a wrong-variant check, so the test has teeth.

Needs the Debian package ``relion`` (``make deps-test`` installs it).
"""
import shutil
import subprocess

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

from engine.imaging.ctf import CTFParams, ctf_2d
from engine.structure.maps import write_map
from engine.structure.object_model import build_ribosome_like, composite_map
from engine.imaging.projector import TwoBodyProjector
from engine.structure.rotations import euler_from_matrix, relion_matrix, uniform_euler_angles

D = 64
N = 8
CC = (10.0, -7.0)
OPTICS = CTFParams(voltage_kV=300.0, cs_mm=2.7, amplitude_contrast=0.1, bfactor_A2=800.0)
RING_08 = int(0.8 * D / 2)


class Case:
    """One relion_project run and the parameters that made it."""

    def __init__(self, tmp):
        rng = np.random.default_rng(5)
        self.obj = build_ribosome_like(D, seed=2)
        self.euler = uniform_euler_angles(N, rng)
        self.origin_A = rng.uniform(-12.0, 12.0, (N, 2))
        mean = rng.uniform(12000.0, 20000.0, N)
        self.dfu, self.dfv = mean + 4000.0, mean - 4000.0  # strong astigmatism: its angle matters
        self.dfang = rng.uniform(0.0, 180.0, N)
        self.phase = np.where(np.arange(N) % 2 == 1, 40.0, 0.0)
        write_map(tmp / "map.mrc", composite_map(self.obj, *CC, order=5), self.obj.apix_A)
        optics = pd.DataFrame({
            "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnVoltage": [OPTICS.voltage_kV],
            "rlnSphericalAberration": [OPTICS.cs_mm], "rlnAmplitudeContrast": [OPTICS.amplitude_contrast],
            "rlnImagePixelSize": [self.obj.apix_A], "rlnImageSize": [D], "rlnImageDimensionality": [2]})
        particles = pd.DataFrame({
            "rlnImageName": [f"{i + 1:06d}@unused.mrcs" for i in range(N)],
            "rlnAngleRot": self.euler[:, 0], "rlnAngleTilt": self.euler[:, 1], "rlnAnglePsi": self.euler[:, 2],
            "rlnOriginXAngst": self.origin_A[:, 0], "rlnOriginYAngst": self.origin_A[:, 1],
            "rlnDefocusU": self.dfu, "rlnDefocusV": self.dfv, "rlnDefocusAngle": self.dfang,
            "rlnPhaseShift": self.phase, "rlnCtfBfactor": np.full(N, OPTICS.bfactor_A2),
            "rlnOpticsGroup": np.ones(N, dtype=int)})
        starfile.write({"optics": optics, "particles": particles}, tmp / "particles.star", overwrite=True)
        self.relion_clean = self._run(tmp, "clean", [])
        self.relion_ctf = self._run(tmp, "ctf", ["--ctf"])
        self.projector = TwoBodyProjector(self.obj)

    def _run(self, tmp, name, extra):
        cmd = [shutil.which("relion_project"), "--i", "map.mrc", "--o", name, "--ang", "particles.star",
               "--angpix", str(self.obj.apix_A)] + extra
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return mrcfile.read(tmp / f"{name}.mrcs").astype(np.float64)

    def ours(self, euler=None, origin_A=None, optics=OPTICS, dfang=None, phase=None, ctf=True):
        euler = self.euler if euler is None else euler
        origin_A = self.origin_A if origin_A is None else origin_A
        c = None
        if ctf:
            c = ctf_2d(D, self.obj.apix_A, self.dfu, self.dfv, self.dfang if dfang is None else dfang, optics,
                       phase_shift_deg=self.phase if phase is None else phase)
        return self.projector.project(euler, np.tile(CC, (N, 1)), origin_A, c).astype(np.float64)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    assert shutil.which("relion_project"), "relion_project not found: install Debian's relion (make deps-test)"
    return Case(tmp_path_factory.mktemp("relion_project"))


def corr(a, b):
    return np.array([np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)])


def _ring_index():
    k = np.fft.fftfreq(D) * D
    return np.rint(np.hypot(*np.meshgrid(k, k))).astype(int).ravel()


def ring_power(images):
    """Power per Fourier ring summed over the images: (D/2 + 1,)."""
    ring = _ring_index()
    power = np.abs(np.fft.fft2(images)) ** 2
    return sum(np.bincount(ring, p.ravel())[: D // 2 + 1] for p in power)


def mean_frc(a, b):
    """Per image, the Fourier ring correlation averaged over rings 2 .. 0.8 Nyquist."""
    ring = _ring_index()
    out = []
    for x, y in zip(np.fft.fft2(a), np.fft.fft2(b)):
        num = np.bincount(ring, (x * y.conj()).real.ravel())
        den = np.sqrt(np.bincount(ring, np.abs(x.ravel()) ** 2) * np.bincount(ring, np.abs(y.ravel()) ** 2))
        out.append((num / den)[2: RING_08 + 1].mean())
    return np.array(out)


def test_clean_projections_equal_relion_project(case):
    ours = case.ours(ctf=False)
    assert corr(ours, case.relion_clean).min() > 0.9995
    ratio = ring_power(ours) / ring_power(case.relion_clean)
    np.testing.assert_allclose(ratio[1: RING_08 + 1], 1.0, atol=0.03)
    # RELION keeps the gridding correction at q = 0 too, which inflates its total density
    # by a few per cent; ours is the map's total (see engine.imaging.projector)
    total = case.obj.lsu.sum(dtype=np.float64) + case.obj.ssu.sum(dtype=np.float64)
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), total, rtol=1e-3)
    assert np.all(case.relion_clean.sum(axis=(1, 2)) / total > 1.02)


def test_ctf_projections_equal_relion_project(case):
    ours = case.ours()
    assert corr(ours, case.relion_ctf).min() > 0.999
    assert mean_frc(ours, case.relion_ctf).min() > 0.999
    ratio = ring_power(ours) / ring_power(case.relion_ctf)
    np.testing.assert_allclose(ratio[1: RING_08 + 1], 1.0, atol=0.03)


def test_protein_is_white_in_both(case):
    # CTF(0) = +Q0 (or more with a phase shift): both images keep a positive mean
    assert np.all(case.relion_ctf.mean(axis=(1, 2)) > 0)
    assert np.all(case.ours().mean(axis=(1, 2)) > 0)


def test_wrong_conventions_clearly_disagree(case):
    rel = case.relion_ctf
    right = case.ours()
    assert corr(right, rel).min() > 0.999
    a_transposed = euler_from_matrix(relion_matrix(*case.euler.T).transpose(0, 2, 1))
    assert corr(case.ours(euler=a_transposed), rel).mean() < 0.95
    assert corr(case.ours(origin_A=-case.origin_A), rel).mean() < 0.97
    assert corr(right.transpose(0, 2, 1), rel).mean() < 0.95
    assert corr(-right, rel).max() < -0.999  # the CTF sign
    shifted = case.phase > 0
    assert corr(case.ours(phase=-case.phase), rel)[shifted].max() < 0
    assert mean_frc(case.ours(dfang=-case.dfang), rel).mean() < 0.95
    no_b = case.ours(optics=CTFParams(OPTICS.voltage_kV, OPTICS.cs_mm, OPTICS.amplitude_contrast, 0.0))
    assert (ring_power(no_b) / ring_power(rel))[RING_08] > 2.0
