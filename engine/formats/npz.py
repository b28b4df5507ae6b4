"""An ``.npz`` written array by array in pieces, laid out exactly as ``np.savez`` lays it out.

ground_truth.npz of millions of particles is written this way, so that its largest field (the
image names, 4 bytes per character) never exists whole in memory. Atomic (engine.atomic_files).

Example::

    write_npz_streaming("gt.npz", [("well", np.int16, (n,), well),
                                   ("image_name", "<U38", (n,), names_chunk_by_chunk())])
"""
from __future__ import annotations

import zipfile

import numpy as np

from engine.atomic_files import atomic_path


def write_npz_streaming(path, entries) -> None:
    """Write an ``.npz`` (an uncompressed zip of ``NAME.npy``, as ``np.savez`` writes) with
    each array streamed in pieces, so no array needs to exist whole in memory.

    entries: iterable of ``(name, dtype, shape, pieces)``; ``pieces`` an iterable of arrays whose
    C-order bytes, cast to ``dtype`` and concatenated, are the array (their total size must
    match ``shape``), or one ndarray."""
    with atomic_path(path) as tmp, \
            zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, dtype, shape, pieces in entries:
            dtype = np.dtype(dtype)
            if isinstance(pieces, np.ndarray):
                pieces = [pieces]
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
            expected = int(np.prod(shape, dtype=np.int64))
            written = 0
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                if _header_fits_1_0(header):
                    np.lib.format.write_array_header_1_0(fh, header)
                else:
                    np.lib.format.write_array_header_2_0(fh, header)
                for piece in pieces:
                    piece = np.ascontiguousarray(piece, dtype=dtype)
                    fh.write(piece.data if piece.size else b"")
                    written += piece.size
            if written != expected:
                raise ValueError(f"{path}: {name}: {written} values written, shape {tuple(shape)} needs {expected}")


def _header_fits_1_0(header: dict) -> bool:
    """Whether the .npy 1.0 header (length < 65536) holds ``header``, as np.save decides."""
    return len(repr(header)) < 65000
