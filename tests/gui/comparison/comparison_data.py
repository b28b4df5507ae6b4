"""Small datasets and method outputs on disk for the Comparison tab's tests.

``dataset_and_outputs(root, n, seed)`` writes both under ``root`` and returns
``(folder, npy, pkl, gt)``, what the test modules' ``files`` fixtures hold.

``make_dataset(folder)`` writes what the simulator writes that the comparison reads: a
ground_truth.npz (engine.formats.dataset.synthetic_ground_truth), landscape.json and a RELION 3.1
particles.star (optics + particles blocks, rlnImageName in dataset order). ``make_outputs``
writes two method outputs: a noisy copy of the true (cc1, cc2) as a plain .npy (read by the
generic loader) and a cryoDRGN-style ``z.pkl`` (two pickles of float32 arrays, z_mu then
z_logvar) whose first two latent dimensions are a rotated, noisier copy of the truth.
"""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import starfile

from engine.formats.dataset import synthetic_ground_truth
from engine.formats.ground_truth import save_ground_truth
from engine.landscape.io import save_landscape
from engine.landscape.presets import load_preset

NOISE_NPY_DEG = 2.0
NOISE_Z = 0.6


def make_dataset(folder, n: int = 6000, seed: int = 3, preset: str = "paper-3x4", core_radius_deg=None):
    import dataclasses

    land = load_preset(preset)
    if core_radius_deg is not None:
        land = dataclasses.replace(land, core_radius_deg=core_radius_deg)
    gt = synthetic_ground_truth(land, n, seed, chunk_size=1000)
    folder.mkdir(parents=True, exist_ok=True)
    save_ground_truth(gt, folder / "ground_truth.npz")
    save_landscape(land, folder / "landscape.json")
    rng = np.random.default_rng(seed)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnImagePixelSize": [4.0], "rlnImageSize": [64], "rlnImageDimensionality": [2]})
    particles = pd.DataFrame({"rlnImageName": gt.image_name.astype(str), "rlnOpticsGroup": np.ones(n, int),
                              "rlnAngleRot": rng.uniform(-180, 180, n), "rlnAngleTilt": rng.uniform(0, 180, n),
                              "rlnAnglePsi": rng.uniform(-180, 180, n), "rlnDefocusU": rng.uniform(1e4, 2.5e4, n)})
    starfile.write({"optics": optics, "particles": particles}, folder / "particles.star")
    return folder, gt, land


def noisy_truth(gt, seed: int = 0) -> np.ndarray:
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    return truth + np.random.default_rng(seed).normal(0, NOISE_NPY_DEG, truth.shape)


def cryodrgn_z(gt, seed: int = 1) -> np.ndarray:
    """(N, 4) float32: a rotated, scaled, noisier copy of (cc1, cc2), then two noise dims."""
    rng = np.random.default_rng(seed)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1) / 10.0
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = np.concatenate([truth @ rot.T + rng.normal(0, NOISE_Z, truth.shape),
                        rng.normal(0, 1, (len(gt), 2))], axis=1)
    return z.astype(np.float32)


def make_outputs(folder, gt):
    folder.mkdir(parents=True, exist_ok=True)
    npy = folder / "noisy_truth.npy"
    np.save(npy, noisy_truth(gt))
    pkl = folder / "z.pkl"
    z = cryodrgn_z(gt)
    with open(pkl, "wb") as fh:
        pickle.dump(z, fh)
        pickle.dump(np.zeros_like(z), fh)
    return npy, pkl


def dataset_and_outputs(root, n: int = 6000, seed: int = 3):
    """A dataset in ``root/ds`` and its two method outputs in ``root/outputs``:
    (dataset folder, .npy path, z.pkl path, ground truth)."""
    folder, gt, _ = make_dataset(root / "ds", n=n, seed=seed)
    npy, pkl = make_outputs(root / "outputs", gt)
    return folder, npy, pkl, gt
