"""A tiny dataset simulated by elbench (so it has a manifest, maps and noise: the ideal
observer, the controls and the SNR sweep apply) and a method output for it, for the tests of
the control rows, the ideal-observer bar and the SNR sweep.

``elbench_dataset(root)`` returns ``(folder, npy)``: N_PARTICLES particles of box 32 at SNR
DATASET_SNR in ``root/ds`` (seconds to simulate) and a noisy copy of their true (cc1, cc2) as
a plain .npy in ``root/noisy_truth.npy``; ``opened(model, folder, npy)`` opens them in a
comparison model and waits for its scores.
"""
from __future__ import annotations

import numpy as np

from comparison_data import noisy_truth
from engine.formats.dataset import load_dataset
from engine.landscape.presets import load_preset
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation

N_PARTICLES = 300
DATASET_SNR = 1.0


def elbench_dataset(root, n: int = N_PARTICLES, snr: float = DATASET_SNR):
    folder = root / "ds"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=32, snr=snr,
                          chunk_size=n, write_cryosparc=False)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    npy = root / "noisy_truth.npy"
    np.save(npy, noisy_truth(load_dataset(folder).ground_truth))
    return folder, npy


def opened(model, folder, npy=None) -> None:
    """Open ``folder`` in the ComparisonModel ``model`` (and ``npy`` as "noisy truth"), then
    wait until it has scored everything, background jobs included."""
    model.open_dataset(folder)
    if npy is not None:
        model.add_output(npy, label="noisy truth")
    assert model.wait_idle(background=True)
