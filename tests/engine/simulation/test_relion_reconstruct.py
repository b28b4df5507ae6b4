"""The whole chain, proven by RELION itself: Debian's ``relion_reconstruct --ctf`` on our
particles.star (angles, origins, CTF, image names) rebuilds our ground-truth map.

A landscape with one narrow well (sigma 0.3 degrees) makes every particle the same
conformation; the reference is ``maps/well_01.mrc`` (the full object at the well centre),
which comes from real-space rotation, not from the projector. Box 40 at 9.47 A/px
(Nyquist 18.9 A), random shifts up to 15 A, defocus 1-2.5 um.

Measured (2000 particles, noiseless): FSC >= 0.99 to 25 A and > 0.5 to 19.9 A (shell 19 of 20,
95 % of Nyquist). With SNR 10 and 3000 particles FSC = 0.5 at ~24 A. The control: flipping the
sign of rlnOriginX/YAngst in the STAR file (a wrong shift convention) collapses the FSC.
"""
import shutil
import subprocess

import mrcfile
import numpy as np
import pytest
import starfile

from engine.landscape.model import Landscape, Well
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.structure.fsc import fsc

BOX = 40


def simulate_one_conformation(folder, n, snr):
    land = Landscape(wells=(Well("1", 5.0, -3.0, 20.0, 0.3, 0.3),), cc1_range_deg=(0, 10), cc2_range_deg=(-8, 2),
                     name="one narrow well")
    plan = SimulationPlan(landscape=land, n_particles=n, box_size=BOX, chunk_size=1000, max_shift_A=15.0,
                          snr=snr, seed=3)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return plan


def relion_reconstruct(folder, star="particles.star", out="rec.mrc") -> np.ndarray:
    assert shutil.which("relion_reconstruct"), "Debian's relion package must be installed (make deps-test)"
    run = subprocess.run(["relion_reconstruct", "--i", star, "--o", out, "--ctf"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return mrcfile.read(folder / out)


def test_relion_reconstructs_our_ground_truth_map(tmp_path):
    folder = tmp_path / "ds"
    plan = simulate_one_conformation(folder, 2000, snr=None)
    truth = mrcfile.read(folder / "maps/well_01.mrc")
    curve = fsc(relion_reconstruct(folder), truth)
    apix = plan.effective_apix_A()
    resolution = BOX * apix / np.arange(1, BOX // 2 + 1)
    assert np.all(curve[1:16] > 0.99), curve          # to 25 A
    assert np.all(curve[1:20] > 0.5), curve           # to 19.9 A; Nyquist is 18.9 A
    assert resolution[18] < 20.0

    # control: the opposite shift convention must not reconstruct
    table = starfile.read(folder / "particles.star", always_dict=True)
    table["particles"][["rlnOriginXAngst", "rlnOriginYAngst"]] *= -1
    starfile.write(table, folder / "flipped.star")
    flipped = fsc(relion_reconstruct(folder, "flipped.star", "flipped.mrc"), truth)
    first_below = int(np.argmax(flipped < 0.5))
    assert 0 < first_below < 12, flipped               # ruined beyond ~35 A


def test_noisy_dataset_reconstructs_at_snr_10(tmp_path):
    folder = tmp_path / "ds"
    plan = simulate_one_conformation(folder, 3000, snr=10.0)
    curve = fsc(relion_reconstruct(folder), mrcfile.read(folder / "maps/well_01.mrc"))
    shell_at_half = int(np.argmax(curve < 0.5))
    resolution_A = BOX * plan.effective_apix_A() / shell_at_half
    assert resolution_A == pytest.approx(24.0, abs=3.0), curve
