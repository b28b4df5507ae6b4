"""Projector speed: images per second per core at box 64 and 128, with CTF and noise.

Each image: its own orientation, conformation, origin shift and astigmatic defocus; CTF computed
(engine.imaging.ctf.ctf_2d), two-body Fourier slice (compiled gather), one inverse 2D FFT, white noise.
Printed next to the same run's cost of the unavoidable work (one inverse 2D FFT and the noise
per image), with a breakdown, and relion_project's rate on the same map (box 128, --ctf
--add_noise) when it is installed. Single-threaded (NUMBA_NUM_THREADS=1, FFT workers=1): the
simulation runs one such worker per core. Timings on a shared machine are noisy: best of 5.

    python bench/bench_projector.py
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported: per-core figures

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import best_of  # noqa: E402
from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus  # noqa: E402
from engine.structure.maps import write_map  # noqa: E402
from engine.imaging.noise import add_white_noise  # noqa: E402
from engine.structure.object_model import build_ribosome_like, composite_map  # noqa: E402
from engine.imaging.projector import TwoBodyProjector  # noqa: E402
from engine.structure.rotations import uniform_euler_angles  # noqa: E402

BATCH = 256
OPTICS = CTFParams()


def bench_box(box):
    obj = build_ribosome_like(box, seed=0)
    t = time.perf_counter()
    proj = TwoBodyProjector(obj)
    setup_s = time.perf_counter() - t
    rng = np.random.default_rng(1)
    euler = uniform_euler_angles(BATCH, rng)
    cc = rng.uniform(-15, 15, (BATCH, 2))
    origin = rng.uniform(-5, 5, (BATCH, 2))
    dfu, dfv, dfang = sample_defocus(BATCH, rng)
    noise_rng = np.random.default_rng(2)
    sigma = 0.5

    def full():
        ctf = ctf_2d(box, obj.apix_A, dfu, dfv, dfang, OPTICS)
        images = proj.project(euler, cc, origin, ctf)
        add_white_noise(images, sigma, noise_rng, in_place=True)

    full()  # compile or load the cached kernel
    spec = proj.project_fourier(euler, cc, origin, ctf_2d(box, obj.apix_A, dfu, dfv, dfang, OPTICS))
    images = proj.project(euler, cc, origin)
    t_full = best_of(full)
    t_ifft = best_of(lambda: scipy.fft.irfft2(spec, s=(box, box), workers=1))
    t_noise = best_of(lambda: add_white_noise(images, sigma, noise_rng, in_place=True))
    t_ctf = best_of(lambda: ctf_2d(box, obj.apix_A, dfu, dfv, dfang, OPTICS))
    ctf = ctf_2d(box, obj.apix_A, dfu, dfv, dfang, OPTICS)
    t_slice = best_of(lambda: proj.project_fourier(euler, cc, origin, ctf))
    per = lambda s: s / BATCH * 1e6  # noqa: E731  microseconds per image
    base = t_ifft + t_noise
    print(f"box {box} ({obj.apix_A:.2f} A/px), batches of {BATCH}; projector set-up {setup_s:.2f} s")
    print(f"  baseline: 1 inverse 2D FFT + noise   {per(base):7.1f} us/image  {BATCH / base:8.0f} images/s")
    print(f"  full: CTF + two-body slice + FFT + noise {per(t_full):5.1f} us/image  {BATCH / t_full:8.0f} images/s"
          f"  ({t_full / base:.1f}x baseline)")
    print(f"    ctf_2d {per(t_ctf):.1f} | two slices (kernel) {per(t_slice):.1f} | inverse FFT {per(t_ifft):.1f}"
          f" | noise {per(t_noise):.1f} us/image")
    return obj


def bench_relion(obj, n=400):
    exe = shutil.which("relion_project")
    if exe is None:
        print("relion_project: not installed, skipped")
        return
    import pandas as pd
    import starfile

    box = obj.box_size
    rng = np.random.default_rng(3)
    euler = uniform_euler_angles(n, rng)
    dfu, dfv, dfang = sample_defocus(n, rng)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_map(tmp / "map.mrc", composite_map(obj, 0.0, 0.0), obj.apix_A)
        optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                               "rlnVoltage": [OPTICS.voltage_kV], "rlnSphericalAberration": [OPTICS.cs_mm],
                               "rlnAmplitudeContrast": [OPTICS.amplitude_contrast],
                               "rlnImagePixelSize": [obj.apix_A], "rlnImageSize": [box], "rlnImageDimensionality": [2]})
        parts = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@unused.mrcs" for i in range(n)],
                              "rlnAngleRot": euler[:, 0], "rlnAngleTilt": euler[:, 1], "rlnAnglePsi": euler[:, 2],
                              "rlnOriginXAngst": np.zeros(n), "rlnOriginYAngst": np.zeros(n),
                              "rlnDefocusU": dfu, "rlnDefocusV": dfv, "rlnDefocusAngle": dfang,
                              "rlnPhaseShift": np.zeros(n), "rlnOpticsGroup": np.ones(n, dtype=int)})
        starfile.write({"optics": optics, "particles": parts}, tmp / "p.star", overwrite=True)
        cmd = [exe, "--i", "map.mrc", "--o", "out", "--ang", "p.star", "--angpix", str(obj.apix_A),
               "--ctf", "--add_noise", "--white_noise", "1"]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
        elapsed = time.perf_counter() - t
    print(f"relion_project, box {box}, --ctf --add_noise, {n} images (incl. start-up and writing): "
          f"{n / elapsed:.0f} images/s")


def main():
    bench_box(64)
    obj = bench_box(128)
    bench_relion(obj)


if __name__ == "__main__":
    main()
