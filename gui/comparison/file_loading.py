"""Reading the Comparison tab's files: the two load jobs and what they return.

Each job is a plain engine-style function (gui.widgets.jobs runs it in the background) that
returns the dataset or the method output, or a :class:`LoadFailure` whose message names the
file, instead of raising: a file that cannot be read changes nothing.

Example::

    runner.start(load_output_job, "train/z.25.pkl", dataset, None, "cryoDRGN")   # kind detected
    # sigFinished(MethodOutput) or sigFinished(LoadFailure("Cannot add method output", "..."))
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.formats.dataset import DatasetError, load_dataset
from engine.formats.loaders import KINDS, LoaderError, detect_kind, load_output

# an occupancy map has counts per bin, no particle assignment: nothing to score per particle
LOADABLE_KINDS = tuple(k for k in KINDS if k != "manifoldem_occupancy")


@dataclass(frozen=True)
class LoadFailure:
    """What a load job returns instead of raising: the message names the file."""

    title: str
    message: str


@dataclass(frozen=True)
class LoadRequest:
    """One file to read: ``what`` is "dataset" or "output" (kind None: detected)."""

    what: str
    path: str
    kind: str | None = None
    label: str | None = None


def load_dataset_job(path, *, progress=None, should_stop=None, log=None):
    """The dataset in folder ``path`` (or its ground_truth.npz), or a LoadFailure."""
    try:
        return load_dataset(path)
    except DatasetError as exc:
        return LoadFailure("Cannot open dataset", str(exc))


def load_output_job(path, dataset, kind, label, *, progress=None, should_stop=None, log=None):
    """The method output at ``path`` matched to ``dataset``'s particles, or a LoadFailure."""
    try:
        kind = kind or detect_kind(path)
        if kind == "manifoldem_occupancy":
            raise LoaderError(path, "is a ManifoldEM occupancy map (counts per bin, no particle assignment): "
                                    "it has no per-particle coordinates to compare")
        return load_output(path, dataset, kind, label=label)
    except (LoaderError, DatasetError, OSError) as exc:
        return LoadFailure("Cannot add method output", str(exc))
