"""The dataset's metadata files, written at the end of a run from the chunks' metadata.

particles.star (engine.formats.star), cryodrgn/poses.pkl + ctf.pkl (engine.formats.cryodrgn),
cryosparc/particles.cs if planned (engine.formats.cryosparc) and ground_truth.npz
(engine.formats.ground_truth). The metadata of each chunk is regenerated from the seed for each
file (engine.simulation.chunks.chunk_metadata, ~2 ms per 1,000 particles), never kept.

Example::

    hashes = write_metadata_files(plan, "runs/ds1")     # {"particles.star": sha256, ...}
"""
from __future__ import annotations

from pathlib import Path

from engine.atomic_files import sha256_file
from engine.formats.cryodrgn import write_cryodrgn_ctf, write_cryodrgn_poses
from engine.formats.cryosparc import write_cryosparc_particles
from engine.formats.ground_truth import save_ground_truth_streaming
from engine.formats.star import Optics, write_particles_star
from engine.simulation.chunks import chunk_metadata, chunk_uids
from engine.simulation.context import get_context
from engine.simulation.plan import SimulationPlan

METADATA_FILES = ("particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl", "cryosparc/particles.cs",
                  "ground_truth.npz")


def write_metadata_files(plan: SimulationPlan, folder) -> dict:
    """Write the metadata files of ``plan``'s dataset in ``folder``; returns {file: sha256}.
    Memory: the whole-dataset arrays each file needs (cryoDRGN poses: 88 bytes per particle;
    ground truth: 91), never the metadata of all chunks at once."""
    folder = Path(folder)
    ctx = get_context(plan)
    optics = Optics(ctx.box_size, ctx.apix_A, plan.voltage_kV, plan.cs_mm, plan.amplitude_contrast, plan.bfactor_A2)

    def chunks():
        return (chunk_metadata(ctx, k) for k in range(plan.n_chunks))

    n = plan.n_particles
    write_particles_star(folder / "particles.star", optics, chunks())
    (folder / "cryodrgn").mkdir(exist_ok=True)
    write_cryodrgn_poses(folder / "cryodrgn/poses.pkl", optics, chunks(), n)
    write_cryodrgn_ctf(folder / "cryodrgn/ctf.pkl", optics, chunks(), n)
    if plan.write_cryosparc:
        (folder / "cryosparc").mkdir(exist_ok=True)
        write_cryosparc_particles(folder / "cryosparc/particles.cs", optics, chunks(), n, lambda m: chunk_uids(plan, m))
    save_ground_truth_streaming(plan.landscape, folder / "ground_truth.npz", chunks(), n)
    return {name: sha256_file(folder / name) for name in METADATA_FILES if (folder / name).exists()}
