"""Load what heterogeneity methods write, as per-particle coordinates matched to a dataset.

One module per tool (DESIGN.md section 6): cryodrgn (z.N.pkl, umap.pkl), cryosparc (.cs),
relion_multibody (``*_projections_along_eigenvectors_all_particles.txt``), recovar
(embeddings.pkl, latent_coords.npy), manifoldem (its output folder read as 1D tau per particle,
S2_OM occupancy maps, per-particle tables),
generic (.npy/.npz/.csv/.txt/.star). Each returns a MethodOutput or raises LoaderError naming
the file and the problem. Pickles are read only through engine.formats.safe_pickle.

Example::

    from engine.formats.dataset import load_dataset
    from engine.formats.loaders import detect_kind, load_output

    ds = load_dataset("runs/paper-3x4")
    detect_kind("train/z.25.pkl")                  # 'cryodrgn'
    detect_kind("output/ribosome")                 # 'manifoldem' (its output folder)
    out = load_output("train/z.25.pkl", ds)        # MethodOutput
    out.coords.shape, out.particle_index, out.n_dropped, out.notes
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.formats.loaders.base import LoaderError, MethodOutput, build_output
from engine.formats.loaders.cryodrgn import load_cryodrgn
from engine.formats.loaders.cryosparc import load_cryosparc
from engine.formats.loaders.generic import load_generic
from engine.formats.loaders.manifoldem import OccupancyMap, is_occupancy_map, load_manifoldem, load_occupancy_map
from engine.formats.loaders.manifoldem_folder import is_manifoldem_folder
from engine.formats.loaders.recovar import load_recovar
from engine.formats.loaders.relion_multibody import FILE_PATTERN as RELION_PATTERN
from engine.formats.loaders.relion_multibody import load_relion_projections

__all__ = ["KINDS", "LoaderError", "MethodOutput", "OccupancyMap", "build_output", "detect_kind",
           "is_occupancy_map", "load_occupancy_map", "load_output"]

KINDS = ("cryodrgn", "cryosparc", "relion_multibody", "recovar", "manifoldem",
         "manifoldem_occupancy", "generic")
_CRYODRGN_NAME = re.compile(r"^(z(\.\d+)?|umap)\.pkl$")
_GENERIC_SUFFIXES = (".npy", ".npz", ".csv", ".txt", ".star", ".pkl")
# Options each kind understands (beyond label); others given for it are an error.
_OPTIONS = {"cryodrgn": {"ind"}, "recovar": {"ind", "zdim"}, "generic": {"ind"},
            "manifoldem": {"ind"}, "cryosparc": set(), "relion_multibody": set()}


def detect_kind(path) -> str:
    """Which tool wrote ``path``, from its name, suffix, signature or folder layout."""
    path = Path(path)
    name = path.name
    if is_manifoldem_folder(path):  # a folder, its ELConc<R> folder or one S2_prD_<k>.pkl in it
        return "manifoldem"
    if path.is_dir():
        if (path / "model").is_dir() or (path / "embeddings.pkl").is_file() or path.name.startswith("zdim_") \
                or any(path.glob("zdim_*/latent_coords.npy")):
            return "recovar"
        found = sorted(path.glob(f"*{RELION_PATTERN}*.txt"))
        if len(found) == 1:
            return "relion_multibody"
        raise LoaderError(path, "a folder that is neither a RECOVAR result, a ManifoldEM output folder, "
                                "nor holds one RELION projections file; give the output file itself")
    if is_occupancy_map(path):
        return "manifoldem_occupancy"
    if path.suffix == ".cs":
        return "cryosparc"
    if _CRYODRGN_NAME.match(name):
        return "cryodrgn"
    if name == "embeddings.pkl" or (name.startswith("latent_coords") and path.parent.name.startswith("zdim_")):
        return "recovar"
    if RELION_PATTERN in name and path.suffix == ".txt":
        return "relion_multibody"
    if path.suffix.lower() in _GENERIC_SUFFIXES:
        return "generic"
    raise LoaderError(path, f"cannot tell which tool wrote this file; give its kind (one of {', '.join(KINDS)})")


def load_output(path, dataset, kind: str | None = None, *, label: str | None = None,
                ind=None, zdim: int | None = None) -> MethodOutput:
    """Read a method output and match its rows to ``dataset`` (engine.formats.dataset.Dataset).

    kind: one of KINDS, or None to detect it. ind: the run's particle-index file (cryoDRGN or
    RECOVAR ``--ind``) or array. zdim: which RECOVAR embedding. Raises LoaderError.
    """
    path = Path(path)
    if not path.exists():
        raise LoaderError(path, "no such file or folder")
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise LoaderError(path, f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if kind == "manifoldem_occupancy":
        raise LoaderError(path, "is a ManifoldEM occupancy map (counts per bin, no particle assignment): "
                                "it cannot be scored per particle; read it with load_occupancy_map")
    given = {k for k, v in (("ind", ind), ("zdim", zdim)) if v is not None}
    if given - _OPTIONS[kind]:
        raise LoaderError(path, f"option {sorted(given - _OPTIONS[kind])[0]} does not apply to {kind} outputs")
    options = {k: v for k, v in (("ind", ind), ("zdim", zdim)) if v is not None}
    if kind == "relion_multibody" and path.is_dir():
        path = sorted(path.glob(f"*{RELION_PATTERN}*.txt"))[0] if any(path.glob(f"*{RELION_PATTERN}*.txt")) else path
    loader = {"cryodrgn": load_cryodrgn, "cryosparc": load_cryosparc, "generic": load_generic,
              "relion_multibody": load_relion_projections, "recovar": load_recovar,
              "manifoldem": load_manifoldem}[kind]
    return loader(path, dataset, label=label, **options)


__all__ = ["KINDS", "LoaderError", "MethodOutput", "OccupancyMap", "build_output", "detect_kind",
           "load_output", "load_occupancy_map", "load_cryodrgn", "load_cryosparc", "load_generic",
           "load_manifoldem", "load_recovar", "load_relion_projections"]
