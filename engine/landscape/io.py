"""Landscape JSON files (``format_version`` 1).

Layout::

    {"format_version": 1, "name": "...", "description": "...",
     "cc1_range_deg": [-20, 20], "cc2_range_deg": [-15, 15], "temperature_K": 300,
     "background_kcal_per_mol": 0, "confinement_kcal_per_mol": 0, "core_radius_deg": null,
     "grid_size": 512,
     "wells": [{"name": "1", "cc1_deg": -12, "cc2_deg": -9, "depth_kcal_per_mol": 3.0,
                "sigma1_deg": 2.5, "sigma2_deg": 2.5, "angle_deg": 0}]}

Unknown keys are refused; the first bad field is named in the error (``wells[3].sigma1_deg``).
A file holds at least one well (an empty landscape is neither saved nor loaded), and what is
not a regular file of a sane size (a FIFO, /dev/zero) is refused before it is read.
Writes are atomic (temporary file, then rename), so a failed save never damages a file.

Example::

    land = load_landscape("my.json")
    save_landscape(land, "copy.json")
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from engine.atomic_files import write_text_atomic
from engine.input_files import input_file_problem
from engine.landscape.model import Landscape, Well

FORMAT_VERSION = 1
# The largest landscapes hold a few hundred wells at ~250 bytes each: under 100 KB. A file of
# megabytes is something else given by mistake (or /dev/zero), refused before it is read.
LANDSCAPE_MAX_BYTES = 16 * 1000**2
NO_WELLS = "the list is empty; a landscape file needs at least one well (particles are labelled by well)"
_REQUIRED = ("format_version", "cc1_range_deg", "cc2_range_deg", "temperature_K", "wells")
_WELL_REQUIRED = ("cc1_deg", "cc2_deg", "depth_kcal_per_mol", "sigma1_deg", "sigma2_deg")


class LandscapeFileError(ValueError):
    """A landscape file that cannot be read; the message names the file and the field."""

    def __init__(self, path, field: str, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        where = f"{field}: " if field else ""
        super().__init__(f"{self.path}: {where}{problem}")


def landscape_to_dict(landscape: Landscape) -> dict:
    d = {f.name: getattr(landscape, f.name) for f in fields(Landscape) if f.name != "wells"}
    d["cc1_range_deg"] = list(landscape.cc1_range_deg)
    d["cc2_range_deg"] = list(landscape.cc2_range_deg)
    return {"format_version": FORMAT_VERSION, **d, "wells": [asdict(w) for w in landscape.wells]}


def landscape_from_dict(data, source="<landscape>") -> Landscape:
    """Validate ``data`` (parsed JSON) and build a Landscape; LandscapeFileError names the field."""
    if not isinstance(data, dict):
        raise LandscapeFileError(source, "", "the top level must be a JSON object")
    allowed = {f.name for f in fields(Landscape)} | {"format_version"}
    _check_keys(data, allowed, _REQUIRED, "", source)
    if data["format_version"] != FORMAT_VERSION:
        raise LandscapeFileError(source, "format_version",
                                 f"unsupported version {data['format_version']!r} (this elbench reads {FORMAT_VERSION})")
    raw_wells = data["wells"]
    if not isinstance(raw_wells, list):
        raise LandscapeFileError(source, "wells", "must be a list of wells")
    wells = []
    well_keys = {f.name for f in fields(Well)}
    for i, raw in enumerate(raw_wells):
        prefix = f"wells[{i}]"
        if not isinstance(raw, dict):
            raise LandscapeFileError(source, prefix, "must be a JSON object")
        _check_keys(raw, well_keys, _WELL_REQUIRED, prefix + ".", source)
        raw = {"name": str(i + 1), **raw}
        try:
            wells.append(Well(**raw))
        except ValueError as exc:
            field_name, _, problem = str(exc).partition(": ")
            raise LandscapeFileError(source, f"{prefix}.{field_name}", problem) from None
    kwargs = {k: v for k, v in data.items() if k not in ("format_version", "wells")}
    try:
        return Landscape(wells=tuple(wells), **kwargs)
    except (ValueError, TypeError) as exc:
        field_name, _, problem = str(exc).partition(": ")
        raise LandscapeFileError(source, field_name, problem or str(exc)) from None


def _check_keys(data: dict, allowed: set, required: tuple, prefix: str, source) -> None:
    for key in data:
        if key not in allowed:
            raise LandscapeFileError(source, prefix + key, f"unknown key (expected one of {sorted(allowed)})")
    for key in required:
        if key not in data:
            raise LandscapeFileError(source, prefix + key, "missing")


def load_landscape(path) -> Landscape:
    """Read a landscape file; LandscapeFileError names the file (and the field) for what is
    not a regular file of at most LANDSCAPE_MAX_BYTES, malformed JSON, a bad field, or no
    wells (a landscape file is for simulating and scoring, and both label particles by well)."""
    path = Path(path)
    problem = input_file_problem(path, LANDSCAPE_MAX_BYTES, "a landscape file")
    if problem:
        raise LandscapeFileError(path, "", problem)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LandscapeFileError(path, "", f"cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise LandscapeFileError(path, "", "not a text file (is it really a landscape JSON?)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LandscapeFileError(path, "", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    landscape = landscape_from_dict(data, path)
    if not landscape.wells:
        raise LandscapeFileError(path, "wells", NO_WELLS)
    return landscape


def save_landscape(landscape: Landscape, path) -> None:
    """Write ``landscape`` to ``path`` atomically; raises OSError with the path on failure,
    LandscapeFileError for a landscape without wells (no file could be read back from it)."""
    if not landscape.wells:
        raise LandscapeFileError(path, "wells", NO_WELLS)
    write_text_atomic(path, json.dumps(landscape_to_dict(landscape), indent=2) + "\n")
