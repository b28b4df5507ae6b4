"""cryoDRGN's input pickles of a dataset: ``cryodrgn/poses.pkl`` and ``cryodrgn/ctf.pkl``.

- ``poses.pkl``: one pickle of ``(rot (N,3,3) float64 = RELION A, trans (N,2) float64 =
  +origin / apix / D)``;
- ``ctf.pkl``: (N, 9) float32 ``[D, apix, dfU, dfV, dfang_deg, kV, Cs_mm, Q0, phase_deg]``;

exactly what ``cryodrgn parse_pose_star`` / ``parse_ctf_star`` write from our STAR file. Both
are filled chunk by chunk from :class:`engine.formats.particle_metadata.ParticleMetadata`
(chunks in particle order) and written atomically (engine.atomic_files).

Example::

    write_cryodrgn_poses("ds/cryodrgn/poses.pkl", optics, chunks, n)
    write_cryodrgn_ctf("ds/cryodrgn/ctf.pkl", optics, chunks, n)
"""
from __future__ import annotations

import pickle
from typing import Iterable

import numpy as np

from engine.atomic_files import atomic_path
from engine.formats.particle_metadata import ParticleMetadata
from engine.formats.star import Optics
from engine.structure.rotations import relion_matrix


def write_cryodrgn_poses(path, optics: Optics, chunks: Iterable[ParticleMetadata], n: int) -> None:
    """``poses.pkl``: one pickle of ``(rot, trans)``; rot (N,3,3) float64 is RELION's A (what
    ``cryodrgn parse_pose_star`` computes), trans (N,2) float64 = origin_A / apix / D (same sign)."""
    rot = np.empty((n, 3, 3))
    trans = np.empty((n, 2))
    for meta in chunks:
        s = slice(meta.first, meta.first + len(meta))
        rot[s] = relion_matrix(*meta.euler_deg.T)
        trans[s] = meta.origin_A / optics.apix_A / optics.box_size
    _write_pickle(path, (rot, trans))


def write_cryodrgn_ctf(path, optics: Optics, chunks: Iterable[ParticleMetadata], n: int) -> None:
    """``ctf.pkl``: (N, 9) float32 [D, apix, dfU, dfV, dfang (deg), kV, Cs (mm), Q0, phase (deg)]."""
    ctf = np.empty((n, 9), dtype=np.float32)
    ctf[:, 0], ctf[:, 1] = optics.box_size, optics.apix_A
    ctf[:, 5], ctf[:, 6], ctf[:, 7], ctf[:, 8] = optics.voltage_kV, optics.cs_mm, optics.amplitude_contrast, 0.0
    for meta in chunks:
        s = slice(meta.first, meta.first + len(meta))
        ctf[s, 2], ctf[s, 3], ctf[s, 4] = meta.defocus_u_A, meta.defocus_v_A, meta.defocus_angle_deg
    _write_pickle(path, ctf)


def _write_pickle(path, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)
