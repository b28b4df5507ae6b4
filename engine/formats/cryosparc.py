"""cryoSPARC's particle table of a dataset: ``cryosparc/particles.cs`` (numpy format).

Fields blob/* (stack path, 0-based index, shape, pixel size, sign), ctf/* and alignments3D/*
(pose = rotation vector of A^T, shift in pixels), one row per particle (CS_DTYPE), written
chunk by chunk from :class:`engine.formats.particle_metadata.ParticleMetadata` (chunks in
particle order) and atomically (engine.atomic_files).

Example::

    write_cryosparc_particles("ds/cryosparc/particles.cs", optics, chunks, n, uids_of_chunk)
    np.load("ds/cryosparc/particles.cs")["blob/idx"][:3]        # [0, 1, 2]
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from engine.atomic_files import atomic_path
from engine.formats.particle_metadata import ParticleMetadata
from engine.formats.star import Optics
from engine.structure.rotations import relion_matrix

CS_DTYPE = np.dtype([
    ("uid", "<u8"), ("blob/path", "S64"), ("blob/idx", "<u4"), ("blob/shape", "<u4", (2,)),
    ("blob/psize_A", "<f4"), ("blob/sign", "<f4"),
    ("ctf/type", "S8"), ("ctf/exp_group_id", "<u4"), ("ctf/accel_kv", "<f4"), ("ctf/cs_mm", "<f4"),
    ("ctf/amp_contrast", "<f4"), ("ctf/df1_A", "<f4"), ("ctf/df2_A", "<f4"), ("ctf/df_angle_rad", "<f4"),
    ("ctf/phase_shift_rad", "<f4"), ("ctf/scale", "<f4"), ("ctf/scale_const", "<f4"), ("ctf/bfactor", "<f4"),
    ("alignments3D/split", "<u4"), ("alignments3D/shift", "<f4", (2,)), ("alignments3D/pose", "<f4", (3,)),
    ("alignments3D/psize_A", "<f4"), ("alignments3D/class", "<u4"),
])


def cryosparc_rows(meta: ParticleMetadata, optics: Optics, uid: np.ndarray) -> np.ndarray:
    """One chunk's rows. pose = rotation vector of A^T (cryoDRGN's parse_pose_csparc takes
    expmap(pose)^T as A); shift = origin in pixels, same sign as rlnOriginX/YAngst; blob/idx is
    0-based; blob/sign +1 because images have protein white, as RELION writes them."""
    from scipy.spatial.transform import Rotation

    n = len(meta)
    rows = np.zeros(n, dtype=CS_DTYPE)
    rows["uid"] = uid
    rows["blob/path"] = meta.stack_name.encode()
    rows["blob/idx"] = np.arange(n)
    rows["blob/shape"] = optics.box_size
    rows["blob/psize_A"] = optics.apix_A
    rows["blob/sign"] = 1.0
    rows["ctf/type"] = b"imported"
    rows["ctf/accel_kv"], rows["ctf/cs_mm"], rows["ctf/amp_contrast"] = optics.voltage_kV, optics.cs_mm, optics.amplitude_contrast
    rows["ctf/df1_A"], rows["ctf/df2_A"] = meta.defocus_u_A, meta.defocus_v_A
    rows["ctf/df_angle_rad"] = np.deg2rad(meta.defocus_angle_deg)
    rows["ctf/scale"], rows["ctf/scale_const"], rows["ctf/bfactor"] = 1.0, 0.0, optics.bfactor_A2
    rows["alignments3D/split"] = (meta.first + np.arange(n)) % 2
    rows["alignments3D/shift"] = meta.origin_A / optics.apix_A
    A = relion_matrix(*meta.euler_deg.T)
    rows["alignments3D/pose"] = Rotation.from_matrix(np.swapaxes(A, 1, 2)).as_rotvec()
    rows["alignments3D/psize_A"] = optics.apix_A
    return rows


def write_cryosparc_particles(path, optics: Optics, chunks: Iterable[ParticleMetadata], n: int, uids) -> None:
    """Numpy-format ``particles.cs`` (N rows), written chunk by chunk (chunks in particle order;
    memory: one chunk's rows).

    ``uids``: callable chunk -> (len(chunk),) uint64 unique ids."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(CS_DTYPE), "fortran_order": False, "shape": (n,)}
        np.lib.format.write_array_header_1_0(fh, header)
        rows = 0
        for meta in chunks:
            if meta.first != rows:
                raise ValueError(f"{path}: chunk {meta.chunk} starts at particle {meta.first}, expected {rows} "
                                 "(chunks must come in particle order)")
            fh.write(cryosparc_rows(meta, optics, uids(meta)).data)
            rows += len(meta)
        if rows != n:
            raise ValueError(f"{path}: {rows} rows written, {n} expected")
