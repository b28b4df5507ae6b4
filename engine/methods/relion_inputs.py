"""Inputs of a RELION multibody run made from an elbench dataset's own maps and landscape, and
the files each step leaves for the next.

A dataset folder (DESIGN.md section 5) holds ``maps/lsu.mrc`` and ``maps/ssu.mrc`` (the two
bodies at rest, [z, y, x], box-centred origin), ``landscape.json`` and ``manifest.json``
(pixel size, box, pivot and axes of the SSU motion under ``derived``). From them:

- :func:`read_geometry`: box, pixel size (Angstrom), pivot (x, y, z Angstrom from the box
  centre) and the unit axes of cc1 and cc2 (engine.formats.dataset_geometry, the one reader
  of the manifest's geometry, checked against the header of ``maps/lsu.mrc``).
- :func:`motion_conformations`: the (cc1, cc2) the SSU visits: every well centre and the points
  ``n_sigma`` standard deviations away along each of the well's own axes, clipped to the domain.
- :func:`ssu_motion_envelope`: the voxel-wise maximum of the SSU density over those
  conformations (rotated about the pivot as the simulation moves it, ``x -> Rc (x - p) + p``).
  The SSU body mask is made from this envelope, so it covers the SSU wherever the landscape
  puts it, not only at rest; the LSU, which never moves, is masked from ``maps/lsu.mrc``.
- :func:`particle_diameter_A`: diameter of the circle about the box centre that holds the LSU
  and the whole SSU envelope (RELION's ``--particle_diameter`` masks the images with it).
- :func:`bodies_star_text`: the ``--multibody_masks`` file. RELION 3.1 reads the offset prior
  only as ``_rlnBodySigmaOffsetAngst``: given the pre-3.1 ``_rlnBodySigmaOffset`` (pixels),
  3.1.3 drops the value, the offset prior becomes zero and the run dies late with
  ``ERROR!!! zero sum of weights....``.
- :func:`last_optimiser`, :func:`refinement_outputs`: what a finished refinement left for the
  next step (a continuation's optimiser, the data and model files of its end).

Example::

    geo = read_geometry("runs/ds1")
    conformations = motion_conformations(load_landscape("runs/ds1/landscape.json"), n_sigma=2)
    envelope = ssu_motion_envelope(ssu, geo, conformations)        # (D, D, D) float32
    text = bodies_star_text(("masks/lsu_mask.mrc", "masks/ssu_mask.mrc"), 10.0, 10.0)
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

# LSU_MAP, SSU_MAP: the maps the job's steps read, named for relion_multibody from here
from engine.formats.dataset_geometry import (LSU_MAP, SSU_MAP, DatasetGeometry, DatasetGeometryError,  # noqa: F401
                                             read_dataset_geometry)
from engine.landscape.model import Landscape
from engine.structure.maps import write_map
from engine.structure.object_model import rotate_about_point, spline_coefficients
from engine.structure.rotations import conformation_matrix

SSU_ENVELOPE = "inputs/ssu_motion.mrc"   # job-relative, like every path RELION is given
REFERENCE = "inputs/reference.mrc"
# Density above this share of the maximum counts as "the object" for the particle circle,
# as for the dataset's own SNR mask (engine.structure.object_model.EXTENT_LEVEL).
OBJECT_LEVEL = 0.05
# RELION's circular mask has a soft edge of its own (--particle_diameter is its inner edge):
# keep a margin of pixels between the object and that edge.
DIAMETER_MARGIN_PX = 2


class RelionInputError(ValueError):
    """A dataset that lacks what a RELION multibody run needs; the message names the file."""


def read_geometry(dataset_dir) -> DatasetGeometry:
    """The geometry of an elbench dataset folder (engine.formats.dataset_geometry: the
    manifest's ``derived``, checked against ``maps/lsu.mrc``), as a RelionInputError when the
    folder cannot give it."""
    try:
        return read_dataset_geometry(dataset_dir)
    except DatasetGeometryError as exc:
        raise RelionInputError(str(exc)) from None


def motion_conformations(landscape: Landscape, n_sigma: float = 2.0) -> np.ndarray:
    """(M, 2) float64 (cc1, cc2) degrees: each well centre, then the four points ``n_sigma``
    standard deviations from it along the well's own axes (turned by its ``angle_deg``), all
    clipped to the landscape's domain. These span where the Boltzmann density puts the SSU."""
    points = []
    for well in landscape.wells:
        t = math.radians(well.angle_deg)
        u1 = np.array([math.cos(t), math.sin(t)]) * well.sigma1_deg * n_sigma
        u2 = np.array([-math.sin(t), math.cos(t)]) * well.sigma2_deg * n_sigma
        centre = np.array([well.cc1_deg, well.cc2_deg])
        points += [centre, centre + u1, centre - u1, centre + u2, centre - u2]
    out = np.array(points, dtype=np.float64).reshape(-1, 2)
    np.clip(out[:, 0], *landscape.cc1_range_deg, out=out[:, 0])
    np.clip(out[:, 1], *landscape.cc2_range_deg, out=out[:, 1])
    return out


def ssu_motion_envelope(ssu: np.ndarray, geometry: DatasetGeometry, conformations) -> np.ndarray:
    """Voxel-wise maximum of the SSU density over ``conformations`` ((M, 2) cc1, cc2 degrees)
    and at rest. ssu: (D, D, D) float32 [z, y, x]; returns the same shape, float32."""
    envelope = np.array(ssu, dtype=np.float32)
    coeffs = spline_coefficients(envelope)
    for cc1_deg, cc2_deg in np.asarray(conformations, dtype=np.float64).reshape(-1, 2):
        rc = conformation_matrix(np.array(geometry.axis1), np.array(geometry.axis2), cc1_deg, cc2_deg)[0]
        moved = rotate_about_point(ssu, rc, geometry.pivot_A, geometry.apix_A, coeffs=coeffs)
        np.maximum(envelope, moved, out=envelope)
    return envelope


def particle_diameter_A(lsu: np.ndarray, ssu_envelope: np.ndarray, apix_A: float) -> float:
    """Diameter (Angstrom) of the circle about the box centre (voxel D//2) holding every voxel
    where the LSU or the SSU envelope exceeds OBJECT_LEVEL of its maximum, plus a margin of
    DIAMETER_MARGIN_PX on each side; at most the box width (RELION's images end there)."""
    box = lsu.shape[0]
    inside = (lsu > OBJECT_LEVEL * lsu.max()) | (ssu_envelope > OBJECT_LEVEL * ssu_envelope.max())
    radius_px = float(np.linalg.norm(np.argwhere(inside) - box // 2, axis=1).max()) + DIAMETER_MARGIN_PX
    return round(min(2.0 * radius_px, box) * apix_A, 1)


def bodies_star_text(mask_paths, sigma_angles_deg: float, sigma_offset_A: float) -> str:
    """The bodies file of a two-body refinement: body 1 (LSU) rotates relative to body 2
    (SSU) and body 2 relative to body 1, as RELION's documentation advises for two bodies.
    mask_paths: (LSU mask, SSU mask) as RELION will open them (relative to its working
    folder); sigma_angles_deg: width of the prior on each body's rotation; sigma_offset_A:
    width of the prior on its shift, in Angstrom (RELION 3.1's _rlnBodySigmaOffsetAngst)."""
    lsu_mask, ssu_mask = (str(p) for p in mask_paths)
    for name in (lsu_mask, ssu_mask):
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"mask path {name!r}: STAR fields cannot be empty or hold spaces")
    if not sigma_angles_deg > 0 or not sigma_offset_A > 0:
        raise ValueError("sigma_angles_deg and sigma_offset_A must be > 0 (0 keeps a body fixed)")
    rows = [f"{lsu_mask} 2 {sigma_angles_deg:g} {sigma_offset_A:g}",
            f"{ssu_mask} 1 {sigma_angles_deg:g} {sigma_offset_A:g}"]
    return "\n".join(["", "data_", "", "loop_", "_rlnBodyMaskName", "_rlnBodyRotateRelativeTo",
                      "_rlnBodySigmaAngles", "_rlnBodySigmaOffsetAngst", *rows, ""])


def num(value: float) -> str:
    """A number for a RELION command line: 6 significant digits, no trailing zeros."""
    return f"{value:.6g}"


def mask_create_argv(source: str, output: str, threshold: float, extend_px: int, soft_edge_px: int,
                     apix_A: float, threads: int) -> list[str]:
    """``relion_mask_create``: voxels of ``source`` above ``threshold`` (density units), grown
    by ``extend_px``, then a raised-cosine edge ``soft_edge_px`` wide."""
    return ["relion_mask_create", "--i", source, "--o", output, "--ini_threshold", num(threshold),
            "--extend_inimask", str(extend_px), "--width_soft_edge", str(soft_edge_px), "--angpix", num(apix_A),
            "--j", str(threads)]


def reference_argv(lsu: str, ssu: str, lowpass_A: float, apix_A: float, output: str) -> list[str]:
    """``relion_image_handler``: LSU + SSU at rest, low-passed to ``lowpass_A`` (one call: the
    sum is made before the per-image filters run)."""
    return ["relion_image_handler", "--i", lsu, "--add", ssu, "--lowpass", num(lowpass_A), "--angpix", num(apix_A),
            "--o", output]


def write_job_inputs(job_dir, dataset_dir, ssu_envelope: np.ndarray, apix_A: float, sigma_angles_deg: float,
                     sigma_offset_A: float) -> None:
    """Write into ``job_dir`` the SSU envelope map, ``bodies.star`` (naming the masks the mask
    steps write), the output folders RELION expects to exist, and a link ``particles`` to the
    dataset's stacks: RELION opens the relative ``rlnImageName`` paths of ``particles.star``
    from its working folder, the job folder."""
    job, dataset = Path(job_dir), Path(dataset_dir)
    write_map(job / SSU_ENVELOPE, ssu_envelope, apix_A)
    for folder in ("masks", "Refine3D", "MultiBody"):
        (job / folder).mkdir(parents=True, exist_ok=True)
    text = bodies_star_text(("masks/lsu_mask.mrc", "masks/ssu_mask.mrc"), sigma_angles_deg, sigma_offset_A)
    (job / "bodies.star").write_text(text, encoding="utf-8")
    link, target = job / "particles", dataset / "particles"
    if link.is_symlink() and link.resolve() != target.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)


_ITERATION_FILE = re.compile(r"_it(\d{3})_optimiser\.star\Z")


def last_optimiser(job_dir, root: str) -> str | None:
    """The job-relative ``ROOT_itNNN_optimiser.star`` of the highest NNN, or None. Iteration 0
    is the run's starting point, before any refinement: continuing from it would skip it."""
    folder, stem = (Path(job_dir) / root).parent, Path(root).name
    found = [(int(m.group(1)), p.name) for p in folder.glob(f"{stem}_it*_optimiser.star")
             if (m := _ITERATION_FILE.search(p.name)) and int(m.group(1)) > 0]
    return f"{Path(root).parent}/{max(found)[1]}" if found else None


def refinement_outputs(job_dir, root: str) -> tuple[str, str] | None:
    """(data.star, model.star), job-relative, of a refinement: the final ``ROOT_data.star`` and
    ``ROOT_model.star`` of a converged run, else its last iteration's data and half-1 model (a
    run stopped by ``--auto_iter_max`` never joined the halves, so it wrote no joint model);
    None when it wrote neither."""
    job = Path(job_dir)
    if (job / f"{root}_data.star").is_file() and (job / f"{root}_model.star").is_file():
        return f"{root}_data.star", f"{root}_model.star"
    optimiser = last_optimiser(job, root)
    if optimiser is None:
        return None
    stem = optimiser[: -len("_optimiser.star")]
    if (job / f"{stem}_data.star").is_file() and (job / f"{stem}_half1_model.star").is_file():
        return f"{stem}_data.star", f"{stem}_half1_model.star"
    return None
