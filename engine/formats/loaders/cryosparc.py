"""cryoSPARC 3D Variability / 3D Flex particle outputs (``.cs``).

A ``.cs`` file is a table with one row per particle, stored either in numpy's ``.npy`` format
(starts with ``\\x93NUMPY``) or in the newer CSDAT format (starts with ``\\x95CSDAT``), which
cryosparc-tools' ``Dataset.load`` reads. The latent coordinates are the fields
``components_mode_K/value`` (K = 0, 1, ...), in order of K. Rows need not keep the input order;
they are matched to our particles by ``uid`` when the dataset has ``cryosparc/particles.cs``
(uids survive every job), otherwise by ``blob/path`` + ``blob/idx`` (0-based position in the
stack; our image names count from 1).

Example::

    out = load_cryosparc("J42_particles.cs", dataset)
    out.dim_names      # ('component 0', 'component 1', 'component 2')
"""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from engine.formats.image_names import format_image_names
from engine.formats.input_checks import CS_MAX_BYTES
from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, refuse_unusual_file

KIND = "cryosparc"
_COMPONENT = re.compile(r"^components_mode_(\d+)/value$")
NUMPY_MAGIC = b"\x93NUMPY"
CSDAT_MAGIC = b"\x95CSDAT"


def load_cryosparc(path, dataset, *, label: str | None = None) -> MethodOutput:
    path = Path(path)
    columns = read_cs(path)
    modes = sorted((int(m.group(1)), name) for name in columns if (m := _COMPONENT.match(name)))
    if not modes:
        sample = ", ".join(list(columns)[:8])
        raise LoaderError(path, "missing field components_mode_0/value (is this the particle output of a "
                                f"3D Variability or 3D Flex job?); fields: {sample}")
    ks = [k for k, _ in modes]
    if ks != list(range(len(ks))):
        raise LoaderError(path, f"missing field components_mode_{min(set(range(max(ks) + 1)) - set(ks))}/value "
                                f"(found modes {ks})")
    coords = np.stack([np.asarray(columns[name], dtype=np.float64) for _, name in modes], axis=1)
    dim_names = [f"component {k}" for k in ks]
    label = label or f"cryoSPARC {path.stem}"
    common = dict(kind=KIND, label=label, dim_names=dim_names)
    uid_problem = "the dataset has no cryosparc/particles.cs for matching by uid"
    if "uid" not in columns:
        uid_problem = "the file has no uid field for matching by uid"
    elif dataset.cryosparc_uids is not None:
        uids = np.asarray(columns["uid"], dtype=np.uint64)
        unknown = ~np.isin(uids, dataset.cryosparc_uids)
        if not unknown.any():
            return build_output(path, dataset, coords, uids=uids, **common)
        uid_problem = (f"{int(unknown.sum())} of its {len(uids)} uids (e.g. {int(uids[unknown][0])}) are not in "
                       "the dataset's cryosparc/particles.cs: was the job run on another import of the particles?")
    missing = [field for field in ("blob/path", "blob/idx") if field not in columns]
    if missing:
        raise LoaderError(path, f"missing field {' and '.join(missing)} (needed to match rows to particles by "
                                f"image, since {uid_problem})")
    names = blob_image_names(columns["blob/path"], columns["blob/idx"])
    notes = () if "uid" not in columns or dataset.cryosparc_uids is None else (uid_problem,)
    return build_output(path, dataset, coords, names=names, notes=notes, **common)


def blob_image_names(blob_path, blob_idx) -> np.ndarray:
    """RELION-style names "N@path" (N = blob/idx + 1) for cryoSPARC blob fields."""
    paths = np.asarray(blob_path)
    if paths.dtype.kind == "S" or (paths.dtype == object and len(paths) and isinstance(paths[0], bytes)):
        paths = np.char.decode(paths.astype("S"), "utf-8")
    return format_image_names(np.asarray(blob_idx, dtype=np.int64) + 1, paths.astype(str))


def read_cs(path: Path) -> dict:
    """Field name -> column array of a ``.cs`` file (either encoding)."""
    refuse_unusual_file(path, CS_MAX_BYTES, "a cryoSPARC .cs file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise LoaderError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if magic.startswith(NUMPY_MAGIC):
        try:
            table = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise LoaderError(path, f"corrupt or truncated .cs file ({exc})") from None
        if table.dtype.names is None:
            raise LoaderError(path, f"not a cryoSPARC table (an array of dtype {table.dtype} without fields)")
        return {name: table[name] for name in table.dtype.names}
    if magic.startswith(CSDAT_MAGIC):
        return _read_csdat(path)
    raise LoaderError(path, "not a cryoSPARC .cs file (it starts with neither the numpy nor the CSDAT signature)")


def _read_csdat(path: Path) -> dict:
    """Columns of a CSDAT file. The layout is checked here first (cryosparc-tools trusts it:
    a truncated file can crash the interpreter), then cryosparc-tools decodes it in a child
    process, so that a damaged file can at worst fail that process."""
    names = _check_csdat_layout(path)
    wanted = [n for n in names if n == "uid" or n.startswith(("blob/", "components_mode_"))]
    with tempfile.TemporaryDirectory(prefix="elbench-cs-") as tmp:
        target = Path(tmp) / "columns.npz"
        try:
            done = subprocess.run([sys.executable, "-c", _CSDAT_CHILD, str(path), str(target), *wanted],
                                  capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise LoaderError(path, f"reading the CSDAT file took longer than {_CHILD_TIMEOUT_S} s") from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
            raise LoaderError(path, f"corrupt CSDAT .cs file (cryosparc-tools could not read it: {detail})")
        with np.load(target, allow_pickle=False) as data:
            columns = {name: data[f"arr_{i}"] for i, name in enumerate(data["names"].tolist())}
    # fields not decoded (other prefixes) are still listed, for messages
    return {**{n: None for n in names}, **columns}


def _check_csdat_layout(path: Path) -> list[str]:
    """Field names of a CSDAT file after checking that every declared block is present."""
    raw = path.read_bytes()
    pos = len(CSDAT_MAGIC)
    try:
        (header_size,) = struct.unpack_from("<I", raw, pos)
        header = json.loads(raw[pos + 4:pos + 4 + header_size])
        fields = [f[0] for f in header["dtype"]]
        length = int(header["length"])
        compressed = set(header.get("compressed_fields") or ())
    except (struct.error, ValueError, KeyError, TypeError, IndexError):
        raise LoaderError(path, "corrupt or truncated CSDAT .cs file (unreadable header)") from None
    pos += 4 + header_size
    try:
        for descr in header["dtype"] if length else []:
            pos = _check_column(path, raw, pos, descr, length, compressed)
    except LoaderError:
        raise
    except (TypeError, ValueError, IndexError):
        raise LoaderError(path, "corrupt CSDAT .cs file (malformed column description)") from None
    heap = raw[pos:]
    if heap and not heap.endswith(b"\0"):
        raise LoaderError(path, "corrupt or truncated CSDAT .cs file (its string table is cut short)")
    return fields


def _check_column(path, raw: bytes, pos: int, descr, length: int, compressed: set) -> int:
    """Position after the column block at ``pos``, checking it is complete."""
    if pos + 4 > len(raw):
        raise LoaderError(path, f"corrupt or truncated CSDAT .cs file (column {descr[0]} is missing)")
    (size,) = struct.unpack_from("<I", raw, pos)
    pos += 4 + size
    if pos > len(raw):
        raise LoaderError(path, f"corrupt or truncated CSDAT .cs file (column {descr[0]} is cut short)")
    if descr[0] not in compressed and descr[1] not in ("|O", "O"):
        expected = length * np.dtype((descr[1], tuple(descr[2])) if len(descr) > 2 else descr[1]).itemsize
        if size != expected:
            raise LoaderError(path, f"corrupt CSDAT .cs file (column {descr[0]}: {size} bytes, "
                                    f"expected {expected})")
    return pos


_CHILD_TIMEOUT_S = 600
_CSDAT_CHILD = """
import sys
import numpy as np
from cryosparc.dataset import Dataset
source, target, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
table = Dataset.load(source, fields=wanted)
names, arrays = [], []
for name in table.fields():
    column = np.asarray(table[name])
    if column.dtype == object:
        column = np.array([str(v).encode("utf-8") for v in column], dtype=bytes)
    names.append(name)
    arrays.append(column)
np.savez(target, *arrays, names=np.array(names))
"""
