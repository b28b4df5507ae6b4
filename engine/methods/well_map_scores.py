"""Per-well maps scored against the truth, and the background job that makes and scores them.

Each reconstruction of engine.methods.well_maps is compared with the dataset's ground-truth map
of its well, ``maps/well_NN.mrc`` (:func:`score_well_maps`): masked FSC 0.5 and 0.143
resolution and the real-space correlation (engine.structure.fsc.compare_maps, in one soft
mask of the truth's object), and the same correlation with both maps low-passed to
``LOWPASS_A`` (30 A; :func:`lowpass`: a Fourier filter with a raised-cosine edge one shell wide
centred on 1 / 30 A^-1). At low SNR the unfiltered correlation is dominated by a
reconstruction's high-frequency noise; low-passed it ranks labellings by the conformations
their maps hold. :func:`well_maps_job` does all of it for several labellings (a method's and
the ground truth's) as one background job.

Example::

    scores = score_well_maps(result, "runs/ds1")     # WellMapScore per well: FSC, correlations
    job = well_maps_job("runs/ds1", [Labelling("cryoDRGN", labels), Labelling("ground truth", truth)],
                        "runs/ds1_maps", n_wells=12)    # LabelMaps per labelling
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.methods.well_maps import (LOWPASS_A, TRUTH_MAP, WellMapOptions, WellMapsError, WellMapsResult,
                                      plan_well_maps, require_relion_reconstruct, run_well_maps)


def lowpass(volume: np.ndarray, apix_A: float, cutoff_A: float) -> np.ndarray:
    """``volume`` (D, D, D) low-passed to ``cutoff_A`` Angstrom by a Fourier filter: weight 1
    below 1 / cutoff_A, 0 above, a raised-cosine edge one Fourier shell (1 / (D apix_A)) wide
    centred on 1 / cutoff_A between (a hard edge would ring). float64."""
    if not (cutoff_A > 0 and apix_A > 0):
        raise ValueError(f"lowpass: cutoff_A and apix_A must be > 0 (got {cutoff_A}, {apix_A})")
    import scipy.fft

    volume = np.asarray(volume, dtype=np.float64)
    d = volume.shape[0]
    f = np.fft.fftfreq(d, apix_A)
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + np.fft.rfftfreq(d, apix_A)[None, None, :] ** 2)
    width = 1.0 / (d * apix_A)
    t = np.clip((radius - (1.0 / cutoff_A - width / 2)) / width, 0.0, 1.0)
    return scipy.fft.irfftn(scipy.fft.rfftn(volume) * np.cos(0.5 * np.pi * t) ** 2, s=volume.shape)


@dataclass(frozen=True, eq=False)
class WellMapScore:
    """One well's map against the truth: ``comparison`` (engine.structure.fsc.MapComparison)
    is None when the well has no map (no particle assigned); n_particles of n_assigned used;
    ``lowpass_correlation``: the correlation of both maps low-passed to ``lowpass_A``."""

    well: int
    n_particles: int
    n_assigned: int
    map_path: Path | None
    comparison: object | None
    lowpass_correlation: float = math.nan
    lowpass_A: float = LOWPASS_A

    @property
    def count_text(self) -> str:
        """"N", or "N/M" when only N of the M assigned particles were used."""
        return str(self.n_particles) if self.n_particles == self.n_assigned else f"{self.n_particles}/{self.n_assigned}"

    def values(self) -> tuple:
        """(resolution FSC 0.5 A, resolution FSC 0.143 A, correlation, low-passed correlation),
        NaN without a map."""
        c = self.comparison
        return (math.nan,) * 4 if c is None else (c.resolution_fsc05_A, c.resolution_fsc0143_A, c.correlation,
                                                  self.lowpass_correlation)


@dataclass(frozen=True, eq=False)
class LabelMaps:
    """The per-well maps of one labelling (a method's, or the ground truth's)."""

    label: str
    slug: str
    reconstructor: str
    wells: tuple[WellMapScore, ...]
    note: str = ""

    @property
    def with_map(self) -> tuple[WellMapScore, ...]:
        return tuple(w for w in self.wells if w.comparison is not None)

    def mean(self) -> tuple:
        """Mean over the wells with a map of each of WellMapScore.values (NaN when none has;
        a well where nothing is resolved makes the mean resolution infinite)."""
        rows = [w.values() for w in self.with_map]
        return tuple(float(np.mean(column)) for column in zip(*rows)) if rows else (math.nan,) * 4


def score_well_maps(result: WellMapsResult, dataset_dir, lowpass_A: float = LOWPASS_A) -> tuple[WellMapScore, ...]:
    """Compare every map of ``result`` with the dataset's ``maps/well_NN.mrc`` in the soft mask
    of the truth's object, unfiltered and low-passed to ``lowpass_A`` (MapFileError naming the
    file when one is missing or does not match the reconstruction's box)."""
    from engine.structure.fsc import compare_maps, real_space_correlation
    from engine.structure.maps import MapFileError, read_map
    from engine.structure.object_model import make_soft_mask

    scores = []
    for m in result.wells:
        comparison, smooth = None, math.nan
        if m.map_path is not None:
            truth_path = Path(dataset_dir) / TRUTH_MAP.format(m.well)
            truth, apix_A = read_map(truth_path)
            volume, _ = read_map(m.map_path)
            if volume.shape != truth.shape:
                raise MapFileError(f"{m.map_path}: box {volume.shape[0]} differs from {truth_path} ({truth.shape[0]})")
            mask = make_soft_mask(truth, apix_A)
            comparison = compare_maps(volume, truth, apix_A, mask=mask)
            smooth = real_space_correlation(lowpass(volume, apix_A, lowpass_A), lowpass(truth, apix_A, lowpass_A),
                                            mask)
        scores.append(WellMapScore(m.well, m.n_particles, m.n_assigned, m.map_path, comparison, smooth, lowpass_A))
    return tuple(scores)


@dataclass(frozen=True, eq=False)
class Labelling:
    """One particle-to-well labelling to make maps of: ``labels`` (N,) 1-based wells in
    particles.star order, 0 = not assigned; ``slug``: its job folder's name (None: from the
    label); ``note``: how the labels were made."""

    label: str
    labels: np.ndarray
    note: str = ""
    slug: str | None = None

    @property
    def folder_name(self) -> str:
        return self.slug or re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_.") or "labels"


@dataclass(frozen=True, eq=False)
class WellMapsJob:
    """What ``well_maps_job`` returns: status "complete" or "cancelled", the LabelMaps of the
    labellings done (in order), the reconstructor and the cutoff of the low-passed correlation."""

    status: str
    maps: tuple[LabelMaps, ...]
    reconstructor: str
    lowpass_A: float


def well_maps_job(dataset_dir, labellings, job_root, n_wells: int, options: WellMapOptions | None = None,
                  lowpass_A: float = LOWPASS_A, resume: bool = True, *, progress=None, should_stop=None,
                  log=None) -> WellMapsJob:
    """A job (engine habit 7): reconstruct and score each Labelling's wells in
    ``job_root/<folder_name>``. progress(fraction 0..1 of all the labellings' wells); a
    cancel keeps the labellings done. ToolMissingError without RELION, StepError on a failed run."""
    reconstructor = require_relion_reconstruct()
    if log is not None:
        log(f"per-well maps by {reconstructor} with the true poses and CTF; correlation also low-passed to "
            f"{lowpass_A:g} A")
    labellings = list(labellings)
    names = [lab.folder_name for lab in labellings]
    if len(set(names)) != len(names):
        raise WellMapsError(f"labellings: two share the job folder name {names!r}; give them other slugs")
    done = []
    for k, (labelling, name) in enumerate(zip(labellings, names)):
        plan = plan_well_maps(dataset_dir, labelling.labels, Path(job_root) / name, n_wells, options)

        def step_progress(report, k=k):
            if progress is not None:
                progress((k + report.overall_fraction) / len(labellings))

        result = run_well_maps(plan, resume=resume, progress=step_progress, should_stop=should_stop, log=log)
        if result.status != "complete":
            return WellMapsJob("cancelled", tuple(done), reconstructor, lowpass_A)
        done.append(LabelMaps(labelling.label, name, result.reconstructor,
                              score_well_maps(result, dataset_dir, lowpass_A), labelling.note))
    if progress is not None:
        progress(1.0)
    return WellMapsJob("complete", tuple(done), reconstructor, lowpass_A)

