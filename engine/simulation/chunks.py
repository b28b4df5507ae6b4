"""Chunk generation: a pure function of (plan, chunk index) that writes one particle stack.

Random streams (all ``numpy.random.SeedSequence(plan.seed, spawn_key=...)``, so each depends
on the seed and its key alone, never on workers, executor, order or interruptions):

- chunk ``k``: key ``(0, k)``, spawned into two children: ``[metadata, noise]``. The metadata
  stream draws, in this order, the conformations (engine.landscape.sampling), the orientations, the
  defocus (engine.imaging.ctf.sample_defocus) and the shifts; the noise stream draws the noise of
  the chunk's images in batches of ``BATCH_SIZE``.
- noise calibration: key ``(1,)`` (engine.simulation.calibration); cryoSPARC uids of chunk
  ``k``: key ``(2, k)``.

Because metadata never depends on the images, the metadata of any chunk is regenerated in
milliseconds (that is how the STAR, pickle and ground-truth files are written at the end).

Example::

    ctx = get_context(plan)                             # engine.simulation.context
    meta = chunk_metadata(ctx, 0)                       # ParticleMetadata of chunk 0
    record = write_chunk(ctx, 0, sigma, "dataset/")     # writes particles/particles_00000.mrcs
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from engine.atomic_files import named_os_error
from engine.formats.image_names import stack_file_name
from engine.formats.mrc_stack import MrcStackWriter
from engine.formats.particle_metadata import ParticleMetadata
from engine.imaging.ctf import ctf_2d, sample_defocus
from engine.landscape.sampling import sample_conformations
from engine.simulation.context import SimulationContext
from engine.simulation.plan import SimulationPlan
from engine.structure.rotations import uniform_euler_angles

CHUNK_STREAM, CALIBRATION_STREAM, UID_STREAM = 0, 1, 2
BATCH_SIZE = 256  # images projected at once; fixed, so the noise draws depend on nothing else
# Threads that render a chunk's batches ahead of its writer: the cores each worker has (the run
# sets RENDER_THREADS_ENV for its worker processes: cores // workers), at most MAX_RENDER_THREADS.
# Two keep a second core busy in a one-worker run; more than the cores only add switching.
RENDER_THREADS_ENV = "ELBENCH_RENDER_THREADS"
MAX_RENDER_THREADS = 4


class ChunkCancelled(Exception):
    """A chunk stopped on request before it was complete (its temporary file is removed)."""


def chunk_seed_sequences(seed: int, k: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(metadata, noise) seed sequences of chunk ``k``."""
    meta, noise = np.random.SeedSequence(seed, spawn_key=(CHUNK_STREAM, k)).spawn(2)
    return meta, noise


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


def batches(n: int):
    """(lo, hi) of the BATCH_SIZE batches that ``n`` images are made in, in order."""
    for lo in range(0, n, BATCH_SIZE):
        yield lo, min(lo + BATCH_SIZE, n)


def render_clean(ctx: SimulationContext, meta: ParticleMetadata, start: int, stop: int) -> np.ndarray:
    """Noiseless CTF-modulated images of particles [start, stop) of ``meta``: (B, D, D) float32."""
    s = slice(start, stop)
    ctf = ctf_2d(ctx.box_size, ctx.apix_A, meta.defocus_u_A[s], meta.defocus_v_A[s], meta.defocus_angle_deg[s],
                 ctx.optics)
    cc = np.stack([meta.cc1_deg[s], meta.cc2_deg[s]], axis=1)
    return ctx.projector.project(meta.euler_deg[s], cc, meta.origin_A[s], ctf)


def write_chunk(ctx: SimulationContext, k: int, sigma: float, out_dir, should_stop=None, progress=None) -> dict:
    """Generate chunk ``k`` of ``ctx.plan`` and write ``particles/particles_kkkkk.mrcs`` in
    ``out_dir`` (temporary file, then rename). ``sigma``: noise standard deviation (0: none).

    should_stop(): checked between batches; True raises ChunkCancelled (nothing left behind).
    progress(n): called with the number of images just written.
    Returns the chunk's manifest record: index, first, count, file, bytes, sha256.

    Three stages overlap: :func:`render_threads` threads render the next batches (the
    projector's kernel and the FFTs release the GIL), one thread adds each batch's noise, in
    batch order, and one writes them, in the same order (numpy's generator and the file write
    release the GIL too). The noise is still drawn batch after batch from the one stream and
    the batches are written in order, so the bytes are those of a serial loop
    (bench/bench_simulate.py has the speed).
    """
    from engine.imaging.noise import add_white_noise

    meta = chunk_metadata(ctx, k)
    _, noise_ss = chunk_seed_sequences(ctx.plan.seed, k)
    noise_rng = np.random.default_rng(noise_ss)
    rel = stack_file_name(k)
    path = Path(out_dir) / rel
    n = len(meta)

    def noise_then_write(images: np.ndarray):
        if sigma > 0:
            images = add_white_noise(images, sigma, noise_rng, in_place=True)
        return write_pool.submit(writer.write, images)  # from this thread: in batch order

    threads = render_threads()
    renders: deque = deque()    # (render future, count) in batch order, at most ``threads``
    finishing: deque = deque()  # (noise future -> write future, count), at most IN_FLIGHT
    try:
        with MrcStackWriter(path, n, ctx.box_size, ctx.apix_A) as writer, \
                ThreadPoolExecutor(threads, thread_name_prefix=f"chunk{k}-render") as render_pool, \
                ThreadPoolExecutor(1, thread_name_prefix=f"chunk{k}-write") as write_pool, \
                ThreadPoolExecutor(1, thread_name_prefix=f"chunk{k}-noise") as noise_pool:
            try:
                for lo, hi in batches(n):
                    if should_stop is not None and should_stop():
                        raise ChunkCancelled(f"chunk {k} cancelled")
                    renders.append((render_pool.submit(render_clean, ctx, meta, lo, hi), hi - lo))
                    if len(renders) >= threads:
                        _hand_over(renders.popleft(), finishing, noise_pool, noise_then_write, progress)
                while renders:
                    _hand_over(renders.popleft(), finishing, noise_pool, noise_then_write, progress)
                while finishing:
                    _finish_oldest(finishing, progress)
            except BaseException:
                for future, _ in renders:
                    future.cancel()
                raise
    except OSError as exc:  # a full disk names no file: say which stack it was
        raise named_os_error(exc, path) from None
    return {"index": k, "first": meta.first, "count": n, "file": rel,
            "bytes": path.stat().st_size, "sha256": writer.sha256}


IN_FLIGHT = 2  # batches between rendered and written: one in the noise stage, one being written


def _hand_over(render, finishing: deque, noise_pool, noise_then_write, progress) -> None:
    """Pass a rendered batch ``(future, count)`` on to the noise stage, first waiting for the
    oldest batch to be written when IN_FLIGHT are already on their way (memory stays bounded)."""
    future, count = render
    images = future.result()
    while len(finishing) >= IN_FLIGHT:
        _finish_oldest(finishing, progress)
    finishing.append((noise_pool.submit(noise_then_write, images), count))


def _finish_oldest(finishing: deque, progress) -> None:
    """Wait for the oldest batch on its way to be written (re-raising its error), report it."""
    noised, count = finishing.popleft()
    noised.result().result()
    if progress is not None:
        progress(count)


def render_threads() -> int:
    """Render threads of one chunk: ``$ELBENCH_RENDER_THREADS`` when the run set it, else the
    cores this process may use; 1 to MAX_RENDER_THREADS."""
    from engine.cpus import available_cpus

    try:
        wanted = int(os.environ.get(RENDER_THREADS_ENV, ""))
    except ValueError:
        wanted = available_cpus()
    return max(1, min(wanted, MAX_RENDER_THREADS))

