"""The dataset's noise level: sigma for the plan's SNR, from images drawn like the dataset's.

The calibration sample is N_CALIBRATION_IMAGES particles drawn exactly as a chunk draws its
particles (engine.simulation.chunks.draw_metadata: conformations from the landscape, the
plan's orientations, defocus and shifts) from their own seed stream,
``SeedSequence(seed, spawn_key=(1,))``, rendered clean with the CTF in the chunks' batches;
engine.imaging.noise.calibrate_noise turns them into sigma (DESIGN.md section 4). The run
writes the result into manifest.json; the GUI's projection preview calls
:func:`plan_noise` with its own projector, so its noisy image has the dataset's sigma.

Example::

    cal = plan_noise(plan)                       # NoiseCalibration; cal.sigma, cal.mask_radius_px
    cal = plan_noise(plan, projector)            # the same, with a projector already built
"""
from __future__ import annotations

import numpy as np

from engine.imaging.noise import SNR_DEFINITION, NoiseCalibration, calibrate_noise
from engine.simulation.chunks import CALIBRATION_STREAM, batches, draw_metadata, render_clean
from engine.simulation.context import SimulationContext, get_context
from engine.simulation.plan import SimulationPlan

N_CALIBRATION_IMAGES = 512
CALIBRATION_NOTE = ("; calibration images drawn like the dataset's (same landscape, orientations, defocus "
                    "and shifts) from their own seed stream")


def dataset_noise(ctx: SimulationContext, n_images: int = N_CALIBRATION_IMAGES) -> NoiseCalibration:
    """The noise of ``ctx.plan``'s dataset: sigma = sqrt(signal_var / snr) over ``n_images``
    clean images drawn like the dataset's with the calibration stream (key (1,))."""
    rng = np.random.default_rng(np.random.SeedSequence(ctx.plan.seed, spawn_key=(CALIBRATION_STREAM,)))
    meta = draw_metadata(ctx, -1, 0, n_images, rng)
    clean = (render_clean(ctx, meta, lo, hi) for lo, hi in batches(n_images))
    return calibrate_noise(clean, ctx.plan.snr, ctx.mask_radius_px, SNR_DEFINITION + CALIBRATION_NOTE)


def plan_noise(plan: SimulationPlan, projector=None) -> NoiseCalibration:
    """The noise the dataset of ``plan`` gets (what its manifest.json records). ``projector``:
    a TwoBodyProjector of the plan's object already built (box ``plan.effective_box_size()``),
    used instead of this process's simulation context."""
    ctx = get_context(plan) if projector is None else SimulationContext(plan, projector)
    return dataset_noise(ctx)
