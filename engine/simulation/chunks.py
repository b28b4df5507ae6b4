"""Chunk generation: a pure function of (plan, chunk index) that writes one particle stack.

Random streams (all ``numpy.random.SeedSequence(plan.seed, spawn_key=...)``, so each depends
on the seed and its key alone, never on workers, executor, order or interruptions):

- chunk ``k``: key ``(0, k)``, spawned into two children: ``[metadata, noise]``. The metadata
  stream draws, in this order, the conformations (engine.landscape.sampling), the orientations, the
  defocus (engine.imaging.ctf.sample_defocus) and the shifts; the noise stream draws the noise of
  the chunk's images in batches of ``BATCH_SIZE``.
- noise calibration: key ``(1,)``; cryoSPARC uids of chunk ``k``: key ``(2, k)``.

Because metadata never depends on the images, the metadata of any chunk is regenerated in
milliseconds (that is how the STAR, pickle and ground-truth files are written at the end).

Example::

    ctx = get_context(plan)
    meta = chunk_metadata(ctx, 0)                       # ParticleMetadata of chunk 0
    record = write_chunk(plan, 0, sigma, "dataset/")    # writes particles/particles_00000.mrcs
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus
from engine.formats.writer import MrcStackWriter, ParticleMetadata, stack_file_name
from engine.structure.rotations import uniform_euler_angles
from engine.landscape.sampling import sample_conformations
from engine.simulation.plan import PlanError, SimulationPlan, plan_to_dict

CHUNK_STREAM, CALIBRATION_STREAM, UID_STREAM = 0, 1, 2
BATCH_SIZE = 256  # images projected at once; fixed, so the noise draws depend on nothing else
N_CALIBRATION_IMAGES = 512
CALIBRATION_NOTE = ("; calibration images drawn like the dataset's (same landscape, orientations, defocus "
                    "and shifts) from their own seed stream")


class ChunkCancelled(Exception):
    """A chunk stopped on request before it was complete (its temporary file is removed)."""


def chunk_seed_sequences(seed: int, k: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(metadata, noise) seed sequences of chunk ``k``."""
    meta, noise = np.random.SeedSequence(seed, spawn_key=(CHUNK_STREAM, k)).spawn(2)
    return meta, noise


def plan_key(plan: SimulationPlan) -> str:
    """Identity of the plan's content (the output folder excluded)."""
    import json

    d = plan_to_dict(plan)
    d.pop("output_folder", None)
    return json.dumps(d, sort_keys=True)


def build_object(plan: SimulationPlan):
    """The plan's TwoBodyObject (maps float32 [z, y, x], apix, pivot, axes)."""
    from engine.structure import object_model
    from engine.structure import maps

    spec = plan.object
    if spec.kind == "ribosome-like":
        return object_model.build_ribosome_like(box_size=plan.effective_box_size(), apix_A=plan.effective_apix_A(),
                                                seed=spec.seed)
    try:
        if spec.kind == "two-maps":
            obj = maps.object_from_maps(spec.lsu_map, spec.ssu_map, spec.pivot_A, spec.axis1, spec.axis2)
        else:
            obj = maps.object_from_map_and_mask(spec.full_map, spec.ssu_mask, spec.pivot_A, spec.axis1, spec.axis2)
    except maps.MapFileError as exc:
        raise PlanError("object", str(exc)) from None
    if plan.box_size is not None and obj.box_size != plan.box_size:
        raise PlanError("box_size", f"is {plan.box_size} but the maps are {obj.box_size} voxels across "
                        "(leave box_size out to use the maps' box)")
    if plan.apix_A is not None and abs(obj.apix_A - plan.apix_A) > 1e-3 * plan.apix_A:
        raise PlanError("apix_A", f"is {plan.apix_A} but the maps have {obj.apix_A:g} A/voxel "
                        "(leave apix_A out to use the maps' voxel size)")
    return obj


def load_star_angles(path) -> np.ndarray:
    """(M, 3) float64 RELION Euler angles (rot, tilt, psi) in degrees from a STAR file
    (its ``data_particles`` block, or the first block with the three angle columns)."""
    import starfile

    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile raises many types on a bad file
        raise PlanError("orientations_star", f"{path}: not a readable STAR file ({exc})") from None
    names = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
    candidates = [blocks["particles"]] if "particles" in blocks else list(blocks.values())
    for block in candidates:
        if hasattr(block, "columns") and all(c in block.columns for c in names):
            angles = block[list(names)].to_numpy(dtype=np.float64)
            if len(angles) == 0:
                break
            if not np.all(np.isfinite(angles)):
                raise PlanError("orientations_star", f"{path}: angles contain non-numbers")
            return angles
    raise PlanError("orientations_star", f"{path}: no block with rows of rlnAngleRot, rlnAngleTilt, rlnAnglePsi")


class SimulationContext:
    """What a process needs to make the plan's chunks: the landscape grid, optics, the object
    and its projector (both built on first use, as they are the expensive part)."""

    def __init__(self, plan: SimulationPlan):
        self.plan = plan
        self.box_size = plan.effective_box_size()
        self.apix_A = plan.effective_apix_A()
        self.grid = plan.landscape.sampling_grid()
        _ = self.grid.basins  # labels are needed for every chunk
        self.optics = CTFParams(plan.voltage_kV, plan.cs_mm, plan.amplitude_contrast, plan.bfactor_A2)
        self.star_angles = load_star_angles(plan.orientations_star) if plan.orientations == "star" else None
        self._object = None
        self._projector = None
        self._lock = threading.Lock()

    @property
    def object(self):
        with self._lock:
            if self._object is None:
                self._object = build_object(self.plan)
            return self._object

    @property
    def projector(self):
        obj = self.object
        with self._lock:
            if self._projector is None:
                from engine.imaging.projector import TwoBodyProjector

                self._projector = TwoBodyProjector(obj)
            return self._projector

    @property
    def mask_radius_px(self) -> float:
        """Radius of the SNR disk: the particle's radius in pixels, at most half the box."""
        return float(min(self.object.diameter_A / 2.0 / self.apix_A, self.box_size / 2.0))


_CONTEXTS: dict[str, SimulationContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def get_context(plan: SimulationPlan) -> SimulationContext:
    """The process's context for ``plan`` (built once; only the latest plan is kept)."""
    key = plan_key(plan)
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            _CONTEXTS.clear()
            ctx = _CONTEXTS[key] = SimulationContext(plan)
        return ctx


def draw_metadata(ctx: SimulationContext, chunk: int, first: int, n: int, rng: np.random.Generator) -> ParticleMetadata:
    """Draw the parameters of ``n`` particles (see the module docstring for the draw order)."""
    plan = ctx.plan
    sample = sample_conformations(ctx.grid, n, rng)
    if ctx.star_angles is None:
        euler = uniform_euler_angles(n, rng)
    else:
        euler = ctx.star_angles[rng.integers(0, len(ctx.star_angles), n)]
    dfu, dfv, dfang = sample_defocus(n, rng, plan.defocus_min_A, plan.defocus_max_A, plan.astigmatism_max_A)
    if plan.max_shift_A > 0:
        origin = rng.uniform(-plan.max_shift_A, plan.max_shift_A, (n, 2))
    else:
        origin = np.zeros((n, 2))
    energy = plan.landscape.energy(sample.cc1_deg, sample.cc2_deg)
    return ParticleMetadata(chunk, first, sample.cc1_deg, sample.cc2_deg, sample.well, sample.core, energy,
                            euler, origin, dfu, dfv, dfang)


def chunk_metadata(ctx: SimulationContext, k: int) -> ParticleMetadata:
    first, stop = ctx.plan.chunk_range(k)
    meta_ss, _ = chunk_seed_sequences(ctx.plan.seed, k)
    return draw_metadata(ctx, k, first, stop - first, np.random.default_rng(meta_ss))


def chunk_uids(plan: SimulationPlan, meta: ParticleMetadata) -> np.ndarray:
    """cryoSPARC uids of a chunk: (n,) uint64, deterministic in (seed, chunk)."""
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(UID_STREAM, meta.chunk)))
    return rng.integers(1, 2**63, len(meta), dtype=np.uint64)


def render_clean(ctx: SimulationContext, meta: ParticleMetadata, start: int, stop: int) -> np.ndarray:
    """Noiseless CTF-modulated images of particles [start, stop) of ``meta``: (B, D, D) float32."""
    s = slice(start, stop)
    ctf = ctf_2d(ctx.box_size, ctx.apix_A, meta.defocus_u_A[s], meta.defocus_v_A[s], meta.defocus_angle_deg[s],
                 ctx.optics)
    cc = np.stack([meta.cc1_deg[s], meta.cc2_deg[s]], axis=1)
    return ctx.projector.project(meta.euler_deg[s], cc, meta.origin_A[s], ctf)


@dataclass(frozen=True)
class NoiseLevel:
    """The dataset's noise, calibrated once (goes into the manifest)."""

    snr: float | None
    sigma: float
    signal_variance: float
    mask_radius_px: float
    n_calibration_images: int
    definition: str = ""


def calibrate_noise(ctx: SimulationContext, n_images: int = N_CALIBRATION_IMAGES) -> NoiseLevel:
    """sigma = sqrt(signal_var / snr) from ``n_images`` clean images drawn like the dataset's
    (same landscape, orientations, defocus and shifts), with the calibration stream (key (1,))."""
    from engine.imaging.noise import SNR_DEFINITION, noise_sigma, signal_variance

    plan = ctx.plan
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(CALIBRATION_STREAM,)))
    meta = draw_metadata(ctx, -1, 0, n_images, rng)
    radius = ctx.mask_radius_px
    total = 0.0
    for lo in range(0, n_images, BATCH_SIZE):
        hi = min(lo + BATCH_SIZE, n_images)
        total += signal_variance(render_clean(ctx, meta, lo, hi), radius) * (hi - lo)
    var = total / n_images
    sigma = 0.0 if plan.snr is None else float(noise_sigma(var, plan.snr))
    return NoiseLevel(plan.snr, sigma, float(var), radius, n_images, SNR_DEFINITION + CALIBRATION_NOTE)


def write_chunk(plan: SimulationPlan, k: int, sigma: float, out_dir, should_stop=None, progress=None) -> dict:
    """Generate chunk ``k`` and write ``particles/particles_kkkkk.mrcs`` in ``out_dir``
    (temporary file, then rename). ``sigma``: noise standard deviation (0: none).

    should_stop(): checked between batches; True raises ChunkCancelled (nothing left behind).
    progress(n): called with the number of images just written.
    Returns the chunk's manifest record: index, first, count, file, bytes, sha256.
    """
    from engine.imaging.noise import add_white_noise

    ctx = get_context(plan)
    meta = chunk_metadata(ctx, k)
    _, noise_ss = chunk_seed_sequences(plan.seed, k)
    noise_rng = np.random.default_rng(noise_ss)
    rel = stack_file_name(k)
    path = Path(out_dir) / rel
    n = len(meta)
    with MrcStackWriter(path, n, ctx.box_size, ctx.apix_A) as writer:
        for lo in range(0, n, BATCH_SIZE):
            if should_stop is not None and should_stop():
                raise ChunkCancelled(f"chunk {k} cancelled")
            hi = min(lo + BATCH_SIZE, n)
            images = render_clean(ctx, meta, lo, hi)
            if sigma > 0:
                images = add_white_noise(images, sigma, noise_rng, in_place=True)
            writer.write(images)
            if progress is not None:
                progress(hi - lo)
    return {"index": k, "first": meta.first, "count": n, "file": rel,
            "bytes": path.stat().st_size, "sha256": writer.sha256}
