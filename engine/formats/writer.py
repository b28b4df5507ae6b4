"""Writers for the files of a simulated dataset (DESIGN.md section 5).

- :class:`MrcStackWriter` streams float32 images into an MRC image stack through a temporary
  file (header statistics accumulated on the way), then renames it and returns its sha256.
- :func:`write_particles_star` writes RELION 3.1+ ``particles.star`` (``data_optics`` +
  ``data_particles``) one chunk at a time with the ``starfile`` library's block formatter.
- :func:`write_cryodrgn_poses`, :func:`write_cryodrgn_ctf`: cryoDRGN's ``poses.pkl``
  ``(rot (N,3,3) float64 = RELION A, trans (N,2) float64 = +origin / apix / D)`` and
  ``ctf.pkl`` ``(N, 9) float32 [D, apix, dfU, dfV, dfang_deg, kV, Cs_mm, Q0, phase_deg]``,
  exactly what ``cryodrgn parse_pose_star`` / ``parse_ctf_star`` write from our STAR file.
- :func:`write_cryosparc_particles`: a numpy-format ``.cs`` (blob/*, ctf/*, alignments3D/*).
- :func:`write_npz_streaming`: an ``.npz`` exactly as ``np.savez`` lays it out, each array
  written piece by piece (ground_truth.npz without holding its image names).

Every file is written to a temporary name beside its target and renamed, so a reader never
sees half a file. All take :class:`ParticleMetadata` chunks in particle order.

Example::

    with MrcStackWriter(path, n=len(images), box_size=64, apix_A=5.0) as w:
        w.write(images)                 # (B, 64, 64) float32, any number of calls
    sha = w.sha256
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import mrcfile
import numpy as np

from engine.atomic_files import fsync_replace, sha256_file, temporary_path
from engine.structure.rotations import relion_matrix

STACK_DIR = "particles"
STACK_LABEL = "elbench simulated particles (RELION convention: protein white)"


@dataclass(frozen=True, eq=False)
class ParticleMetadata:
    """Per-particle parameters of one chunk (n particles, particle order).

    first: 0-based index of the chunk's first particle in the dataset; chunk: chunk number.
    cc1_deg, cc2_deg (n,) float64 degrees; well (n,) int16 1-based; core (n,) bool;
    energy_kcal_per_mol (n,) float64; euler_deg (n, 3) float64 RELION (rot, tilt, psi);
    origin_A (n, 2) float64 rlnOriginX/YAngst (the particle sits at box centre minus origin);
    defocus_u_A, defocus_v_A (n,) float64 Angstrom, defocus_angle_deg (n,) float64.
    """

    chunk: int
    first: int
    cc1_deg: np.ndarray
    cc2_deg: np.ndarray
    well: np.ndarray
    core: np.ndarray
    energy_kcal_per_mol: np.ndarray
    euler_deg: np.ndarray
    origin_A: np.ndarray
    defocus_u_A: np.ndarray
    defocus_v_A: np.ndarray
    defocus_angle_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.cc1_deg)

    @property
    def stack_name(self) -> str:
        return stack_file_name(self.chunk)

    def image_names(self) -> list[str]:
        """RELION image names, 1-based within the chunk's stack: "000001@particles/particles_00000.mrcs"."""
        name = self.stack_name
        return [f"{i:06d}@{name}" for i in range(1, len(self) + 1)]


def stack_file_name(chunk: int) -> str:
    """Stack path of chunk ``chunk``, relative to the dataset folder."""
    return f"{STACK_DIR}/particles_{chunk:05d}.mrcs"


def micrograph_name(chunk: int) -> str:
    """The (virtual) micrograph of chunk ``chunk``: unique per chunk, in generation order."""
    return f"micrographs/sim_{chunk:05d}.mrc"


# --- MRC stacks ----------------------------------------------------------------------------
class MrcStackWriter:
    """Stream ``n`` float32 images of ``box_size`` pixels into an MRC image stack.

    The header (mode 2, space group 0 = image stack, voxel size ``apix_A``) is written by
    ``mrcfile``; images go straight to the file, so memory stays at one batch. min, max, mean
    and rms are accumulated and patched into the header at the end. On success the file is
    fsynced and renamed to ``path``; on error or :meth:`abort` the temporary file is removed.
    """

    def __init__(self, path, n: int, box_size: int, apix_A: float):
        self.path = Path(path)
        self.n, self.box_size, self.apix_A = int(n), int(box_size), float(apix_A)
        self.tmp = temporary_path(self.path)
        self.sha256: str | None = None
        self._written = 0
        self._min, self._max, self._sum, self._sumsq = np.inf, -np.inf, 0.0, 0.0
        with mrcfile.new_mmap(self.tmp, shape=(self.n, self.box_size, self.box_size), mrc_mode=2) as mrc:
            mrc.set_image_stack()
            mrc.voxel_size = self.apix_A
            self._header_dtype = mrc.header.dtype
            self._offset = mrc.header.nbytes + mrc.extended_header.nbytes
        self._fh = open(self.tmp, "r+b")
        self._fh.seek(self._offset)

    def write(self, images: np.ndarray) -> None:
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (self.box_size, self.box_size):
            raise ValueError(f"images: expected (B, {self.box_size}, {self.box_size}), got {images.shape}")
        if self._written + len(images) > self.n:
            raise ValueError(f"{self.path}: more than {self.n} images written")
        self._fh.write(images.tobytes())  # mode 2: float32 in the machine's byte order, as mrcfile writes
        self._written += len(images)
        if len(images):
            self._min = min(self._min, float(images.min()))
            self._max = max(self._max, float(images.max()))
            as64 = images.astype(np.float64)
            self._sum += float(as64.sum())
            self._sumsq += float(np.einsum("ijk,ijk->", as64, as64))

    def close(self) -> str:
        """Finish the stack: patch header stats, fsync, rename; returns the sha256."""
        if self._written != self.n:
            self.abort()
            raise ValueError(f"{self.path}: {self._written} images written, expected {self.n}")
        count = self.n * self.box_size**2
        mean = self._sum / count
        rms = np.sqrt(max(self._sumsq / count - mean * mean, 0.0))
        self._fh.seek(0)
        header = np.frombuffer(bytearray(self._fh.read(self._header_dtype.itemsize)), dtype=self._header_dtype).copy()
        header["dmin"], header["dmax"], header["dmean"], header["rms"] = self._min, self._max, mean, rms
        # mrcfile's label carries the creation time; ours is fixed so the bytes depend on the data alone
        header["label"][0, 0] = STACK_LABEL.ljust(80).encode("ascii")
        header["nlabl"] = 1
        self._fh.seek(0)
        self._fh.write(header.tobytes())
        self._fh.close()
        self.sha256 = sha256_file(self.tmp)
        fsync_replace(self.tmp, self.path)
        return self.sha256

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> MrcStackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --- RELION --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Optics:
    """The dataset's one optics group (RELION 3.1 ``data_optics``)."""

    box_size: int
    apix_A: float
    voltage_kV: float
    cs_mm: float
    amplitude_contrast: float
    bfactor_A2: float = 0.0

    def star_block(self):
        """The ``data_optics`` block as a pandas DataFrame (one row)."""
        import pandas as pd

        return pd.DataFrame({
            "rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
            "rlnMicrographOriginalPixelSize": [self.apix_A], "rlnVoltage": [self.voltage_kV],
            "rlnSphericalAberration": [self.cs_mm], "rlnAmplitudeContrast": [self.amplitude_contrast],
            "rlnImagePixelSize": [self.apix_A], "rlnImageSize": [self.box_size], "rlnImageDimensionality": [2],
            "rlnCtfDataAreCtfPremultiplied": [0],
        })


def particles_block(meta: ParticleMetadata, optics: Optics):
    """One chunk's rows of ``data_particles`` (pandas DataFrame, columns PARTICLE_COLUMNS)."""
    import pandas as pd

    n = len(meta)
    index = meta.first + np.arange(n)
    return pd.DataFrame({
        "rlnImageName": meta.image_names(),
        "rlnMicrographName": [micrograph_name(meta.chunk)] * n,
        "rlnOpticsGroup": np.ones(n, dtype=np.int64),
        "rlnAngleRot": meta.euler_deg[:, 0], "rlnAngleTilt": meta.euler_deg[:, 1], "rlnAnglePsi": meta.euler_deg[:, 2],
        "rlnOriginXAngst": meta.origin_A[:, 0], "rlnOriginYAngst": meta.origin_A[:, 1],
        "rlnDefocusU": meta.defocus_u_A, "rlnDefocusV": meta.defocus_v_A, "rlnDefocusAngle": meta.defocus_angle_deg,
        "rlnPhaseShift": np.zeros(n), "rlnCtfBfactor": np.full(n, optics.bfactor_A2), "rlnCtfScalefactor": np.ones(n),
        # Halves alternate by particle, so any prefix of the dataset is balanced.
        "rlnRandomSubset": (index % 2 + 1).astype(np.int64),
    })


def write_particles_star(path, optics: Optics, chunks: Iterable[ParticleMetadata]) -> int:
    """Write RELION 3.1 ``particles.star`` chunk by chunk (memory: one chunk); returns rows."""
    from starfile.writer import loop_block  # the starfile library's own block formatter

    path = Path(path)
    tmp = temporary_path(path)
    rows = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("# RELION 3.1 particles written by elbench\n\n# version 30001\n\n")
            _write_lines(fh, loop_block("optics", optics.star_block()))
            fh.write("# version 30001\n\n")
            for i, meta in enumerate(chunks):
                lines = list(loop_block("particles", particles_block(meta, optics)))
                while lines and not lines[-1]:
                    lines.pop()
                # the block's header once: later chunks skip data_, blank, loop_ and the labels
                _write_lines(fh, lines[3 + len(PARTICLE_COLUMNS):] if i else lines)
                rows += len(meta)
            if rows == 0:
                _write_lines(fh, loop_block("particles", particles_block(_empty_metadata(), optics)))
            fh.write("\n")
        fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _write_lines(fh, lines) -> None:
    fh.writelines(line + "\n" for line in lines)


def _empty_metadata() -> ParticleMetadata:
    z = np.zeros(0)
    return ParticleMetadata(0, 0, z, z, z.astype(np.int16), z.astype(bool), z, np.zeros((0, 3)), np.zeros((0, 2)), z, z, z)


PARTICLE_COLUMNS = ("rlnImageName", "rlnMicrographName", "rlnOpticsGroup", "rlnAngleRot", "rlnAngleTilt",
                    "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst", "rlnDefocusU", "rlnDefocusV",
                    "rlnDefocusAngle", "rlnPhaseShift", "rlnCtfBfactor", "rlnCtfScalefactor", "rlnRandomSubset")


# --- cryoDRGN ------------------------------------------------------------------------------
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
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=4)
        fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- cryoSPARC -----------------------------------------------------------------------------
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
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
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
        fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- numpy .npz ----------------------------------------------------------------------------
def write_npz_streaming(path, entries) -> None:
    """Write an ``.npz`` (the layout of ``np.savez``: an uncompressed zip of ``NAME.npy``) with
    each array streamed in pieces, so no array needs to exist whole in memory.

    entries: iterable of ``(name, dtype, shape, pieces)``; ``pieces`` an iterable of arrays whose
    C-order bytes, cast to ``dtype`` and concatenated, are the array (their total size must
    match ``shape``), or one ndarray. Written to a temporary file and renamed."""
    import zipfile

    path = Path(path)
    tmp = temporary_path(path)
    try:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, dtype, shape, pieces in entries:
                dtype = np.dtype(dtype)
                if isinstance(pieces, np.ndarray):
                    pieces = [pieces]
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
                expected = int(np.prod(shape, dtype=np.int64))
                written = 0
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array_header_1_0(fh, header) if _header_fits_1_0(header) \
                        else np.lib.format.write_array_header_2_0(fh, header)
                    for piece in pieces:
                        piece = np.ascontiguousarray(piece, dtype=dtype)
                        fh.write(piece.data if piece.size else b"")
                        written += piece.size
                if written != expected:
                    raise ValueError(f"{path}: {name}: {written} values written, shape {tuple(shape)} needs {expected}")
        fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _header_fits_1_0(header: dict) -> bool:
    """Whether the .npy 1.0 header (length < 65536) holds ``header``, as np.save decides."""
    return len(repr(header)) < 65000
