"""A comparison saved as a small project file: the dataset, the method outputs (label, loader
kind, number of dimensions, the run and job folder that made each), and the scoring settings.

The file is JSON with a format name and version; paths are written relative to the project
file's folder (so a project moved with its data, or opened on another machine with the same
layout, still finds its files) unless they lie on another drive. Reading resolves them against
the project file's folder. Unknown keys and versions newer than this one are refused, and
every problem raises :class:`ProjectFileError` naming the project file. A missing output or job
folder does not stop a project from being read: :func:`missing_files` lists them, so whoever
reopens it can load the rest and report those.

Schema, version 1::

    {"format": "elbench comparison project", "version": 1,
     "dataset": "../runs/paper-3x4",
     "settings": {"dims": [0, 1], "core_only": false, "core_radius_deg": null, "wells": null},
     "current": 0,
     "outputs": [{"path": "../runs/paper-3x4_cryodrgn/train/z.25.pkl", "label": "cryoDRGN",
                  "kind": "cryodrgn", "n_dims": 8,
                  "run": {"method": "cryodrgn", "job_dir": "../runs/paper-3x4_cryodrgn"}}]}

Example::

    project = ComparisonProject(dataset="runs/ds", outputs=(ProjectOutput("z.pkl", "cryoDRGN", "cryodrgn", 8),))
    save_project("study.elbench.json", project)
    again = load_project("study.elbench.json")     # absolute paths
    missing_files(again)                           # ['output "cryoDRGN": .../z.pkl: no such file or folder']
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from engine.atomic_files import write_text_atomic
from engine.formats.loaders import KINDS
from engine.input_files import input_file_problem

FORMAT = "elbench comparison project"
FORMAT_VERSION = 1
SUFFIX = ".elbench.json"
PROJECT_MAX_BYTES = 16 * 1024 * 1024
OUTPUT_KINDS = tuple(k for k in KINDS if k != "manifoldem_occupancy")
_KEYS = {"format", "version", "dataset", "settings", "current", "outputs"}
_SETTINGS_KEYS = {"dims", "core_only", "core_radius_deg", "wells"}
_OUTPUT_KEYS = {"path", "label", "kind", "n_dims", "run"}
_RUN_KEYS = {"method", "job_dir"}


class ProjectFileError(ValueError):
    """A project file that cannot be read or written; the message names the file."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class ProjectRun:
    """The method run that wrote an output: catalog name (engine.methods.catalog) and job folder."""

    method: str
    job_dir: Path

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"run.method: must be a non-empty name (got {self.method!r})")
        object.__setattr__(self, "job_dir", Path(self.job_dir))


@dataclass(frozen=True)
class ProjectOutput:
    """One method output: file or folder, its name in the comparison, its loader, and the
    number of output dimensions it had when saved (None: not recorded)."""

    path: Path
    label: str
    kind: str
    n_dims: int | None = None
    run: ProjectRun | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"label: must be a non-empty name (got {self.label!r})")
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"kind: must be one of {', '.join(OUTPUT_KINDS)} (got {self.kind!r})")
        if self.n_dims is not None and (type(self.n_dims) is not int or self.n_dims < 1):
            raise ValueError(f"n_dims: must be a whole number >= 1 or null (got {self.n_dims!r})")


@dataclass(frozen=True)
class ComparisonProject:
    """A comparison (see the module docstring). dims: scored output dimensions (0-based), None
    for all; core_radius_deg in degrees of (cc1, cc2); wells 1-based; current: the method shown
    (position in ``outputs``, -1 for none)."""

    dataset: Path
    outputs: tuple[ProjectOutput, ...] = ()
    dims: tuple[int, ...] | None = (0, 1)
    core_only: bool = False
    core_radius_deg: float | None = None
    wells: tuple[int, ...] | None = None
    current: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", Path(self.dataset))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.dims is not None:
            if not _int_list(self.dims) or min(self.dims) < 0 or len(set(self.dims)) != len(self.dims):
                raise ValueError(f"settings.dims: must be distinct dimensions >= 0, or null for all (got {self.dims!r})")
            object.__setattr__(self, "dims", tuple(self.dims))
        if type(self.core_only) is not bool:
            raise ValueError(f"settings.core_only: must be true or false (got {self.core_only!r})")
        if self.core_radius_deg is not None and (type(self.core_radius_deg) not in (int, float)
                                                 or not math.isfinite(self.core_radius_deg)
                                                 or self.core_radius_deg <= 0):
            raise ValueError(f"settings.core_radius_deg: must be a number > 0 or null (got {self.core_radius_deg!r})")
        if self.wells is not None:
            if not _int_list(self.wells) or min(self.wells) < 1:
                raise ValueError(f"settings.wells: must be 1-based wells or null (got {self.wells!r})")
            object.__setattr__(self, "wells", tuple(sorted(set(self.wells))))
        if type(self.current) is not int or not -1 <= self.current < len(self.outputs):
            raise ValueError(f"current: must be -1 or a position among the {len(self.outputs)} outputs "
                             f"(got {self.current!r})")


def _int_list(values) -> bool:
    return isinstance(values, (list, tuple)) and len(values) > 0 and all(type(v) is int for v in values)


# --- writing -------------------------------------------------------------------------------
def project_to_dict(project: ComparisonProject, folder) -> dict:
    """The JSON document, paths relative to ``folder`` (the project file's)."""
    folder = Path(folder).resolve()
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "dataset": _relative(project.dataset, folder),
        "settings": {"dims": None if project.dims is None else list(project.dims), "core_only": project.core_only,
                     "core_radius_deg": project.core_radius_deg,
                     "wells": None if project.wells is None else list(project.wells)},
        "current": project.current,
        "outputs": [{"path": _relative(o.path, folder), "label": o.label, "kind": o.kind, "n_dims": o.n_dims,
                     "run": None if o.run is None else {"method": o.run.method,
                                                        "job_dir": _relative(o.run.job_dir, folder)}}
                    for o in project.outputs],
    }


def save_project(path, project: ComparisonProject) -> Path:
    """Write ``project`` to ``path`` atomically (engine.atomic_files); the path written.
    Raises ProjectFileError naming the file when it cannot be written."""
    path = Path(path)
    text = json.dumps(project_to_dict(project, path.parent), indent=2) + "\n"
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise ProjectFileError(path, f"cannot be written ({exc.strerror or exc})") from None
    return path


def _relative(path: Path, folder: Path) -> str:
    path = Path(path).resolve()
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path can name it
        return str(path)


# --- reading -------------------------------------------------------------------------------
def is_project_file(path) -> bool:
    """Whether ``path`` is a file that declares itself an elbench comparison project (a quick
    look at its start; :func:`load_project` does the checking)."""
    path = Path(path)
    if not path.is_file() or input_file_problem(path, PROJECT_MAX_BYTES):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return FORMAT.encode() in head


def load_project(path) -> ComparisonProject:
    """Read a project file; paths come back absolute (resolved against the file's folder).
    Raises ProjectFileError naming the file for what is not a readable project."""
    path = Path(path)
    problem = input_file_problem(path, PROJECT_MAX_BYTES, "a comparison project file")
    if problem:
        raise ProjectFileError(path, problem)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ProjectFileError(path, "is not a text file (not UTF-8): not a comparison project") from None
    except json.JSONDecodeError as exc:
        raise ProjectFileError(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    try:
        return project_from_dict(doc, path.resolve().parent)
    except ValueError as exc:
        raise ProjectFileError(path, str(exc)) from None


def project_from_dict(doc, folder) -> ComparisonProject:
    """The project a JSON document describes (ValueError says what is wrong)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"is not an elbench comparison project (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise ValueError(f"version: must be a whole number >= 1 (got {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(f"is version {version}, written by a newer elbench (this one reads up to {FORMAT_VERSION})")
    _refuse_unknown(doc, _KEYS, "")
    folder = Path(folder)
    settings = doc.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError("settings: must be an object")
    _refuse_unknown(settings, _SETTINGS_KEYS, "settings.")
    outputs = doc.get("outputs", [])
    if not isinstance(outputs, list):
        raise ValueError("outputs: must be a list")
    read = []
    for i, item in enumerate(outputs):
        try:
            read.append(_output_from_dict(item, folder))
        except ValueError as exc:
            raise ValueError(f"outputs[{i}]: {exc}") from None
    return ComparisonProject(
        dataset=_absolute(_path_field(doc, "dataset"), folder), outputs=tuple(read),
        dims=settings.get("dims", (0, 1)), core_only=settings.get("core_only", False),
        core_radius_deg=settings.get("core_radius_deg"), wells=settings.get("wells"),
        current=doc.get("current", -1))


def _output_from_dict(item, folder: Path) -> ProjectOutput:
    if not isinstance(item, dict):
        raise ValueError("must be an object")
    _refuse_unknown(item, _OUTPUT_KEYS, "")
    for key in ("label", "kind"):
        if key not in item:
            raise ValueError(f"{key}: missing")
    run = item.get("run")
    if run is not None:
        if not isinstance(run, dict):
            raise ValueError("run: must be an object or null")
        _refuse_unknown(run, _RUN_KEYS, "run.")
        run = ProjectRun(run.get("method"), _absolute(_path_field(run, "job_dir", "run."), folder))
    return ProjectOutput(_absolute(_path_field(item, "path"), folder), item["label"], item["kind"],
                         item.get("n_dims"), run)


def _path_field(doc: dict, key: str, where: str = "") -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}{key}: must be a path (got {value!r})")
    return value


def _absolute(text: str, folder: Path) -> Path:
    path = Path(text).expanduser()
    return (path if path.is_absolute() else folder / path).resolve()


def _refuse_unknown(doc: dict, known: set, where: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ValueError(f"{where}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def missing_files(project: ComparisonProject) -> list[str]:
    """What a reopened project cannot find: outputs (by label) and job folders, in words."""
    problems = []
    if not project.dataset.exists():
        problems.append(f"dataset: {project.dataset}: no such file or folder")
    for o in project.outputs:
        if not o.path.exists():
            problems.append(f"output \"{o.label}\": {o.path}: no such file or folder")
        if o.run is not None and not o.run.job_dir.is_dir():
            problems.append(f"job folder of \"{o.label}\" ({o.run.method}): {o.run.job_dir}: no such folder")
    return problems


__all__ = ["FORMAT", "FORMAT_VERSION", "SUFFIX", "ComparisonProject", "ProjectFileError", "ProjectOutput",
           "ProjectRun", "is_project_file", "load_project", "missing_files", "project_from_dict",
           "project_to_dict", "save_project"]
