"""What every reader of a user's file checks before it parses a byte: the size each kind of
file may be, and whether a text table was cut short.

The size limits refuse what cannot be the file asked for (``/dev/zero``, a FIFO, a 40 GB
file given as a landscape) before it is read into memory; engine.input_files says what is
wrong. Each limit is a few times the largest real file of its kind, for the largest dataset
elbench is planned for (:data:`MAX_PARTICLES`), so that no real file is ever refused.

A text table (STAR, CSV, TXT) that does not end with a line break was cut while it was being
written or copied: every tool that writes one (RELION, starfile, pandas, numpy.savetxt, R,
spreadsheets) ends its last line, and a parser would read the cut number ("0.12" of
"0.123456") as if it were whole.

Example::

    problem = input_file_problem(path, TABLE_MAX_BYTES, "a text table") or cut_short_problem(path)
    if problem:
        raise LoaderError(path, problem)
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["MAX_PARTICLES", "ARRAY_MAX_BYTES", "TABLE_MAX_BYTES", "CS_MAX_BYTES", "GROUND_TRUTH_MAX_BYTES",
           "CONFIG_MAX_BYTES", "OCCUPANCY_MAX_BYTES", "cut_short_problem"]

GB = 1000**3
#: The most particles a dataset is planned for: the paper's largest comparison has 3 million.
MAX_PARTICLES = 10_000_000
# Binary per-particle arrays (.npy, .npz, .pkl): cryoDRGN's z.N.pkl holds z_mu and z_logvar,
# so 10 M particles x 100 float64 coordinates x 2 arrays = 16 GB.
ARRAY_MAX_BYTES = 16 * GB
# STAR / CSV / TXT tables: a RELION particles.star line with 30 columns is ~400 bytes, 4 GB at
# 10 M particles; twice that for wider tables.
TABLE_MAX_BYTES = 8 * GB
# cryoSPARC .cs rows with every blob, ctf, alignment and component field are ~1 KB: 10 GB at 10 M.
CS_MAX_BYTES = 16 * GB
# ground_truth.npz: ~300 bytes a particle (a 40-character name is 160 bytes in UTF-32, plus 17
# numbers): 3 GB at 10 M particles.
GROUND_TRUTH_MAX_BYTES = 8 * GB
# A run's config.yaml / config.pkl is a few KB; a megabyte-sized one is not a config.
CONFIG_MAX_BYTES = 16 * 1000**2
# A ManifoldEM occupancy map holds 50 bins (1D) or at most 1000 x 1000 (2D) int64 counts: 8 MB.
OCCUPANCY_MAX_BYTES = 64 * 1000**2


def cut_short_problem(path) -> str | None:
    """None when the text file ``path`` is empty or ends with a line break, else the problem:
    its last line was cut (see the module docstring)."""
    try:
        with open(Path(path), "rb") as fh:
            end = fh.seek(0, 2)
            if end == 0:
                return None
            fh.seek(max(0, end - 200))
            tail = fh.read()
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if tail.endswith((b"\n", b"\r")):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace").strip()
    return (f"does not end with a line break, so its last line ({last[-60:]!r}) was cut short: the file is "
            "truncated (an interrupted write or copy?); if it is complete, add a line break at its end")
