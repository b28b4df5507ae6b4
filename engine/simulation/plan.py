"""A simulation plan: everything that decides the bytes of a simulated dataset.

A plan is a frozen dataclass, validated on construction (errors name the field), saved as
JSON with a ``format_version`` (unknown keys refused). Relative file paths in a plan file
(maps, orientation STAR, landscape file) are resolved against the plan file's folder.

JSON layout (``format_version`` 1; every key but the landscape is optional)::

    {"format_version": 1,
     "landscape": {... a landscape JSON object ...},   # or "landscape_file": "my.json"
                                                       # or "landscape_preset": "paper-3x4"
     "object": {"kind": "ribosome-like", "seed": 0},   # or "two-maps" / "map-and-mask"
     "n_particles": 10000, "box_size": 128, "apix_A": null, "snr": 1.0,
     "defocus_min_A": 10000, "defocus_max_A": 25000, "astigmatism_max_A": 500,
     "voltage_kV": 300, "cs_mm": 2.7, "amplitude_contrast": 0.1, "bfactor_A2": 0,
     "orientations": "uniform",                        # or "star" with "orientations_star"
     "max_shift_A": 0, "seed": 0, "chunk_size": 10000, "write_cryosparc": true,
     "output_folder": null}

Example::

    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=3_000_000, box_size=64)
    save_plan(plan, "plan.json"); plan = load_plan("plan.json")
    estimate_disk_bytes(plan)          # bytes the dataset will take
    check_disk_space(plan, "out/")     # raises NotEnoughDiskError with the numbers
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

from engine.landscape.model import Landscape
from engine.atomic_files import write_text_atomic
from engine.input_files import input_file_problem
from engine.simulation.errors import PlanError
# the disk a plan needs is computed in resources; these names stay importable from here
from engine.simulation.resources import (  # noqa: F401
    NotEnoughDiskError, check_disk_space, estimate_disk_bytes, format_bytes, format_duration)
from engine.landscape.io import LandscapeFileError, landscape_from_dict, landscape_to_dict, load_landscape

FORMAT_VERSION = 1
OBJECT_KINDS = ("ribosome-like", "two-maps", "map-and-mask")
ORIENTATIONS = ("uniform", "star")
# A plan is a few KB (an inline landscape included); anything this big is the wrong file.
PLAN_MAX_BYTES = 16 * 1024**2


def _require(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise PlanError(field_name, problem)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _vector3(v, name: str, unit: bool) -> tuple[float, float, float]:
    _require(isinstance(v, (list, tuple)) and len(v) == 3 and all(_number(x) for x in v), name,
             f"must be three finite numbers [x, y, z] (got {v!r})")
    v = tuple(float(x) for x in v)
    if unit:
        norm = math.sqrt(sum(x * x for x in v))
        _require(norm > 1e-9, name, "must not be the zero vector")
        v = tuple(x / norm for x in v)
    return v


@dataclass(frozen=True)
class ObjectSpec:
    """The two-body object to image.

    ``kind``: "ribosome-like" (procedural, built from ``seed``), "two-maps" (``lsu_map`` and
    ``ssu_map`` MRC files) or "map-and-mask" (``full_map`` and ``ssu_mask`` MRC files).
    For user maps ``pivot_A`` (x, y, z in Angstrom, box centre = 0) and the unit axes
    ``axis1``, ``axis2`` (orthogonal; normalised here) are required (DESIGN.md section 2).
    """

    kind: str = "ribosome-like"
    seed: int = 0
    lsu_map: str | None = None
    ssu_map: str | None = None
    full_map: str | None = None
    ssu_mask: str | None = None
    pivot_A: tuple[float, float, float] | None = None
    axis1: tuple[float, float, float] | None = None
    axis2: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        _require(self.kind in OBJECT_KINDS, "object.kind", f"must be one of {list(OBJECT_KINDS)} (got {self.kind!r})")
        _require(_integer(self.seed) and self.seed >= 0, "object.seed", f"must be an integer >= 0 (got {self.seed!r})")
        files = {"two-maps": ("lsu_map", "ssu_map"), "map-and-mask": ("full_map", "ssu_mask")}.get(self.kind, ())
        for name in ("lsu_map", "ssu_map", "full_map", "ssu_mask"):
            value = getattr(self, name)
            if name in files:
                _require(isinstance(value, str) and value != "", f"object.{name}",
                         f"is required for kind {self.kind!r} (an MRC file path)")
            else:
                _require(value is None, f"object.{name}", f"is not used by kind {self.kind!r}; leave it out")
        if self.kind == "ribosome-like":
            for name in ("pivot_A", "axis1", "axis2"):
                _require(getattr(self, name) is None, f"object.{name}",
                         "the built-in object has its own pivot and axes; leave it out")
            return
        for name, unit in (("pivot_A", False), ("axis1", True), ("axis2", True)):
            _require(getattr(self, name) is not None, f"object.{name}", f"is required for kind {self.kind!r}")
            object.__setattr__(self, name, _vector3(getattr(self, name), f"object.{name}", unit))
        dot = sum(a * b for a, b in zip(self.axis1, self.axis2))
        _require(abs(dot) < math.sin(math.radians(1.0)), "object.axis2",
                 f"must be orthogonal to axis1 (within 1 degree; they are {math.degrees(math.acos(max(-1.0, min(1.0, dot)))):.1f} apart)")

    @property
    def map_paths(self) -> tuple[str, ...]:
        return tuple(p for p in (self.lsu_map, self.ssu_map, self.full_map, self.ssu_mask) if p)


@dataclass(frozen=True)
class SimulationPlan:
    """Everything that decides a dataset's bytes (DESIGN.md sections 4 and 5).

    Units: pixel size ``apix_A`` in Angstrom/pixel, defocus in Angstrom (positive =
    underfocus), ``astigmatism_max_A`` the largest |defocus_u - defocus_v| (drawn uniformly in
    [0, max], angle uniform in [0, 180) degrees), ``bfactor_A2`` the CTF envelope
    exp(-B s^2 / 4), ``max_shift_A`` the largest |rlnOriginX/YAngst| (each uniform in
    [-max, max]; 0 = centred particles). ``snr``: signal variance inside the particle disk over
    noise variance (None: no noise). ``box_size`` / ``apix_A`` None: taken from the object
    (user maps) or chosen so the built-in object fills the box. ``orientations``: "uniform" on
    SO(3), or "star": angles drawn (with replacement) from the rows of ``orientations_star``.
    """

    landscape: Landscape
    n_particles: int = 10_000
    object: ObjectSpec = field(default_factory=ObjectSpec)
    box_size: int | None = 128
    apix_A: float | None = None
    snr: float | None = 1.0
    defocus_min_A: float = 10_000.0
    defocus_max_A: float = 25_000.0
    astigmatism_max_A: float = 500.0
    voltage_kV: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    bfactor_A2: float = 0.0
    orientations: str = "uniform"
    orientations_star: str | None = None
    max_shift_A: float = 0.0
    seed: int = 0
    chunk_size: int = 10_000
    write_cryosparc: bool = True
    output_folder: str | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.landscape, Landscape), "landscape", "must be a Landscape")
        _require(len(self.landscape.wells) > 0, "landscape", "has no wells (ground-truth labels need at least one)")
        _require(isinstance(self.object, ObjectSpec), "object", "must be an ObjectSpec")
        _require(_integer(self.n_particles) and 1 <= self.n_particles <= 10**9, "n_particles",
                 f"must be an integer in [1, 1e9] (got {self.n_particles!r})")
        _require(self.box_size is None or (_integer(self.box_size) and 16 <= self.box_size <= 1024
                                           and self.box_size % 2 == 0),
                 "box_size", f"must be an even integer in [16, 1024] or null (got {self.box_size!r})")
        _require(self.apix_A is None or (_number(self.apix_A) and 0.1 <= self.apix_A <= 100), "apix_A",
                 f"must be a number in [0.1, 100] Angstrom or null (got {self.apix_A!r})")
        _require(self.snr is None or (_number(self.snr) and self.snr > 0), "snr",
                 f"must be a number > 0, or null for noiseless images (got {self.snr!r})")
        for name in ("defocus_min_A", "defocus_max_A"):
            v = getattr(self, name)
            _require(_number(v) and 0 < v <= 200_000, name, f"must be a number in (0, 200000] Angstrom (got {v!r})")
        _require(self.defocus_min_A <= self.defocus_max_A, "defocus_max_A",
                 f"must be >= defocus_min_A ({self.defocus_max_A} < {self.defocus_min_A})")
        _require(_number(self.astigmatism_max_A) and 0 <= self.astigmatism_max_A < 2 * self.defocus_min_A,
                 "astigmatism_max_A", f"must be a number in [0, 2 * defocus_min_A) (got {self.astigmatism_max_A!r})")
        _require(_number(self.voltage_kV) and 10 <= self.voltage_kV <= 3000, "voltage_kV",
                 f"must be a number in [10, 3000] kV (got {self.voltage_kV!r})")
        _require(_number(self.cs_mm) and 0 <= self.cs_mm <= 20, "cs_mm", f"must be a number in [0, 20] mm (got {self.cs_mm!r})")
        _require(_number(self.amplitude_contrast) and 0 <= self.amplitude_contrast < 1, "amplitude_contrast",
                 f"must be a number in [0, 1) (got {self.amplitude_contrast!r})")
        _require(_number(self.bfactor_A2) and 0 <= self.bfactor_A2 <= 1000, "bfactor_A2",
                 f"must be a number in [0, 1000] A^2 (got {self.bfactor_A2!r})")
        _require(self.orientations in ORIENTATIONS, "orientations",
                 f"must be one of {list(ORIENTATIONS)} (got {self.orientations!r})")
        if self.orientations == "star":
            _require(isinstance(self.orientations_star, str) and self.orientations_star != "", "orientations_star",
                     "is required when orientations is 'star' (a RELION STAR file with rlnAngleRot/Tilt/Psi)")
        else:
            _require(self.orientations_star is None, "orientations_star", "is only used when orientations is 'star'")
        _require(_number(self.max_shift_A) and self.max_shift_A >= 0, "max_shift_A",
                 f"must be a number >= 0 Angstrom (got {self.max_shift_A!r})")
        _require(_integer(self.seed) and 0 <= self.seed < 2**63, "seed", f"must be an integer in [0, 2^63) (got {self.seed!r})")
        _require(_integer(self.chunk_size) and 1 <= self.chunk_size <= 1_000_000, "chunk_size",
                 f"must be an integer in [1, 1000000] (got {self.chunk_size!r})")
        _require(isinstance(self.write_cryosparc, bool), "write_cryosparc", "must be true or false")
        _require(self.output_folder is None or isinstance(self.output_folder, str), "output_folder",
                 "must be a folder path or null")
        if self.max_shift_A and self.box_size is not None and (self.apix_A is not None
                                                               or self.object.kind == "ribosome-like"):
            self.check_shift_limit()  # user maps without apix_A: checked once their header is read

    def check_shift_limit(self) -> None:
        """Refuse a max_shift_A of a quarter of the box or more, in the effective box and pixel
        size (set in the plan, chosen for the built-in object, or read from the maps' header)."""
        limit = self.effective_box_size() * self.effective_apix_A() / 4
        _require(self.max_shift_A < limit, "max_shift_A",
                 f"must be below a quarter of the box ({limit:g} A: {self.effective_box_size()} px at "
                 f"{self.effective_apix_A():g} A/px; got {self.max_shift_A:g})")

    # --- derived ------------------------------------------------------------------------
    @cached_property
    def content_key(self) -> str:
        """The plan's content as canonical JSON (``plan_to_dict``, sorted keys, output_folder
        left out): plans with equal keys make the same bytes, and ``plan_from_dict`` of the
        parsed key is the plan again. Serialised once per plan (plans are immutable)."""
        d = plan_to_dict(self)
        d.pop("output_folder", None)
        return json.dumps(d, sort_keys=True)

    @property
    def n_chunks(self) -> int:
        return -(-self.n_particles // self.chunk_size)

    def chunk_range(self, k: int) -> tuple[int, int]:
        """(first, stop) 0-based particle indices of chunk ``k``."""
        if not 0 <= k < self.n_chunks:
            raise IndexError(f"chunk {k} outside 0..{self.n_chunks - 1}")
        return k * self.chunk_size, min((k + 1) * self.chunk_size, self.n_particles)

    def effective_box_size(self) -> int:
        """The image box in pixels (read from the map header for user maps without box_size)."""
        if self.box_size is not None:
            return self.box_size
        if self.object.kind == "ribosome-like":
            raise PlanError("box_size", "is required for the built-in object")
        from engine.simulation.objects import map_header

        return map_header(self.object.map_paths[0])[0]

    def effective_apix_A(self) -> float:
        if self.apix_A is not None:
            return float(self.apix_A)
        if self.object.kind == "ribosome-like":
            from engine.structure.object_model import default_apix_A

            return round(float(default_apix_A(self.effective_box_size())), 3)  # exact in STAR files
        from engine.simulation.objects import map_header

        return map_header(self.object.map_paths[0])[1]


# --- JSON ----------------------------------------------------------------------------------
_PATH_KEYS = ("lsu_map", "ssu_map", "full_map", "ssu_mask")


def plan_to_dict(plan: SimulationPlan) -> dict:
    d = {"format_version": FORMAT_VERSION, "landscape": landscape_to_dict(plan.landscape)}
    for f in fields(SimulationPlan):
        if f.name == "landscape":
            continue
        value = getattr(plan, f.name)
        if f.name == "object":
            value = {k.name: (list(v) if isinstance(v, tuple) else v)
                     for k in fields(ObjectSpec) if (v := getattr(value, k.name)) is not None}
        d[f.name] = value
    return d


def plan_from_dict(data, source: str = "<plan>", base_dir=None) -> SimulationPlan:
    """Validate parsed JSON and build a plan; PlanError names the file and the field.

    Relative paths are resolved against ``base_dir`` (default: the current folder)."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if not isinstance(data, dict):
        raise PlanError("", "the top level must be a JSON object", source)
    allowed = {f.name for f in fields(SimulationPlan)} | {"format_version", "landscape_file", "landscape_preset"}
    for key in data:
        if key not in allowed:
            raise PlanError(key, f"unknown key (expected one of {sorted(allowed)})", source)
    if "format_version" not in data:
        raise PlanError("format_version", "missing", source)
    if data["format_version"] != FORMAT_VERSION:
        raise PlanError("format_version", f"unsupported version {data['format_version']!r} "
                        f"(this elbench reads {FORMAT_VERSION})", source)
    kwargs = {k: v for k, v in data.items() if k not in ("format_version", "landscape_file", "landscape_preset")}
    kwargs["landscape"] = _landscape_from(data, source, base)
    raw_object = kwargs.pop("object", {})
    if not isinstance(raw_object, dict):
        raise PlanError("object", "must be a JSON object", source)
    object_keys = {f.name for f in fields(ObjectSpec)}
    for key in raw_object:
        if key not in object_keys:
            raise PlanError(f"object.{key}", f"unknown key (expected one of {sorted(object_keys)})", source)
    raw_object = {k: (_resolve(v, base) if k in _PATH_KEYS and isinstance(v, str) else v) for k, v in raw_object.items()}
    if isinstance(kwargs.get("orientations_star"), str):
        kwargs["orientations_star"] = _resolve(kwargs["orientations_star"], base)
    try:
        return SimulationPlan(object=ObjectSpec(**raw_object), **kwargs)
    except PlanError as exc:
        raise PlanError(exc.field, exc.problem, source) from None
    except TypeError as exc:
        raise PlanError("", str(exc), source) from None


def _landscape_from(data: dict, source: str, base: Path) -> Landscape:
    given = [k for k in ("landscape", "landscape_file", "landscape_preset") if k in data]
    if len(given) != 1:
        raise PlanError("landscape", "give exactly one of landscape (inline), landscape_file or landscape_preset"
                        + (f" (got {given})" if given else ""), source)
    key = given[0]
    try:
        if key == "landscape":
            return landscape_from_dict(data[key], f"{source}: landscape")
        if key == "landscape_file":
            if not isinstance(data[key], str):
                raise PlanError(key, "must be a file path", source)
            return load_landscape(_resolve(data[key], base))
        from engine.landscape.presets import load_preset

        return load_preset(str(data[key]))
    except LandscapeFileError as exc:
        raise PlanError(key, str(exc), source) from None
    except KeyError as exc:
        raise PlanError(key, str(exc.args[0]), source) from None


def _resolve(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def save_plan(plan: SimulationPlan, path) -> None:
    """Write the plan (landscape inline) atomically."""
    write_text_atomic(path, json.dumps(plan_to_dict(plan), indent=2) + "\n")


def load_plan(path) -> SimulationPlan:
    """Read a plan file; PlanError names the file (and the field): a FIFO, a device or a file
    over PLAN_MAX_BYTES is refused before a byte is read."""
    path = Path(path)
    problem = input_file_problem(path, PLAN_MAX_BYTES, "a plan file")
    if problem:
        raise PlanError("", problem, str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError("", f"cannot read the file ({exc.strerror or exc})", str(path)) from None
    except UnicodeDecodeError:
        raise PlanError("", "not a text file (is it really a plan JSON?)", str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError("", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", str(path)) from None
    return plan_from_dict(data, str(path), base_dir=path.resolve().parent)


def with_overrides(plan: SimulationPlan, **overrides) -> SimulationPlan:
    """A copy with the non-None ``overrides`` applied (validated again)."""
    return replace(plan, **{k: v for k, v in overrides.items() if v is not None})
