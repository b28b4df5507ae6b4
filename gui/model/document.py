"""The one document model of the GUI: the landscape being designed, the current two-body
object, and shared view state.

``LandscapeDocument`` holds the current ``Landscape`` (a frozen dataclass: every edit
replaces it), the file it came from, the undo stack (dirty = a landscape edit lies between the
stack's clean index and where it is now), the current object (``gui.model.object_state``: the
built-in object or user maps, which the Structure tab shows and the simulation plan images),
the selected well, the current conformation (cc1, cc2) that other tabs show, and the unit
energies are shown in. Widgets take the document in their constructor, call its edit methods
(each pushes one undo command, see ``gui.model.undo_commands``) and listen to its signals;
they never talk to each other. The object is not part of the landscape file: changing it is
undoable but leaves the landscape clean.

A drag is live but only one undo step: call ``preview_landscape`` on every mouse move (views
redraw, nothing is pushed), then the edit method on release (one command from the state
before the preview), or ``cancel_preview`` to go back. ``preview_move_well`` keeps the
energy of every other well on the grid from the first move of the drag
(``engine.landscape.drag.DragGrid``), so each move adds one well's term.

Example::

    doc = LandscapeDocument(load_preset("paper-3x4"))
    doc.sigLandscapeChanged.connect(view.on_landscape)
    doc.move_well(0, -10.0, -8.0)      # one undo step
    doc.undo_stack.undo()
    doc.set_conformation(4.0, 0.0)     # -> sigConformationChanged(4.0, 0.0)
    doc.set_current_object(CurrentObject.builtin(seed=3))   # -> sigObjectChanged, one undo step
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine.landscape.model import EnergyGrid, Landscape, Well
from engine.landscape.drag import DragGrid
from engine.landscape.io import load_landscape, save_landscape
from engine.landscape.presets import DEFAULT_PRESET, load_preset
from gui.model import undo_commands as cmd
from gui.model.object_state import CurrentObject

ENERGY_UNITS = ("kcal/mol", "kT")
# During a drag, basins, samples and occupancies come from a grid at most this fine, so that
# every mouse move redraws everything in time; the full grid is used again on release.
PREVIEW_GRID_SIZE = 256


class LandscapeDocument(QObject):
    """The landscape being designed; see the module docstring.

    Signals:
        sigLandscapeChanged(Landscape): after every edit, undo, redo, preview or reset.
        sigPathChanged(str): the file path changed ("" for an unsaved landscape).
        sigDirtyChanged(bool): True when there are unsaved changes.
        sigSelectionChanged(int): selected well, 0-based index, -1 for none.
        sigConformationChanged(float, float): the current conformation (cc1, cc2) in degrees.
        sigEnergyUnitChanged(str): 'kcal/mol' or 'kT'.
        sigObjectChanged(CurrentObject): the current object changed (edit, undo or redo).
        sigSimulationPlanChanged(SimulationPlan): the Simulation tab's plan changed (a valid one).
        sigDesignerPathChanged(object): the Landscape tab's path (gui.model.designer_path.DesignerPath,
            or None when it has none).
    """

    sigLandscapeChanged = Signal(object)
    sigPathChanged = Signal(str)
    sigDirtyChanged = Signal(bool)
    sigSelectionChanged = Signal(int)
    sigConformationChanged = Signal(float, float)
    sigEnergyUnitChanged = Signal(str)
    sigObjectChanged = Signal(object)
    sigSimulationPlanChanged = Signal(object)
    sigDesignerPathChanged = Signal(object)

    def __init__(self, landscape: Landscape | None = None, path: str | None = None, parent=None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self._dirty = False
        self.undo_stack.cleanChanged.connect(self._update_dirty)
        self.undo_stack.indexChanged.connect(self._update_dirty)
        self._landscape = landscape if landscape is not None else load_preset(DEFAULT_PRESET)
        self._clean_landscape = self._landscape
        self._path = str(path) if path else ""
        self._preview_base: Landscape | None = None
        self._grids: dict[int, tuple[Landscape, EnergyGrid]] = {}
        # the drag in progress: (base landscape, well index, previewed landscape) and the
        # DragGrid of each grid size asked for during it
        self._drag: tuple[Landscape, int, Landscape] | None = None
        self._drag_grids: dict[int, DragGrid] = {}
        self._selected = -1
        self._conformation = self._default_conformation()
        self._energy_unit = ENERGY_UNITS[0]
        self._object = CurrentObject.builtin()
        self._simulation_plan = None
        self._designer_path = None

    def _update_dirty(self, *_) -> None:
        dirty = self._landscape_edited_since_clean()
        if dirty != self._dirty:
            self._dirty = dirty
            self.sigDirtyChanged.emit(dirty)

    def _landscape_edited_since_clean(self) -> bool:
        """True when a landscape command separates the stack's clean index from where it is
        (object commands do not count: the object is not saved with the landscape)."""
        stack = self.undo_stack
        clean = stack.cleanIndex()
        if clean < 0:  # the clean state was undone and then overwritten
            return True
        lo, hi = sorted((clean, stack.index()))
        return any(not isinstance(stack.command(i), cmd.SetObjectCommand) for i in range(lo, hi))

    # --- state ------------------------------------------------------------------------
    @property
    def landscape(self) -> Landscape:
        """The landscape as shown now (including a drag preview)."""
        return self._landscape

    @property
    def committed_landscape(self) -> Landscape:
        """The landscape without the drag preview (what undo commands start from)."""
        return self._preview_base if self._preview_base is not None else self._landscape

    @property
    def clean_landscape(self) -> Landscape:
        """The landscape as last loaded, created or saved."""
        return self._clean_landscape

    @property
    def path(self) -> str:
        """File of the landscape, "" when it has never been saved."""
        return self._path

    @property
    def is_dirty(self) -> bool:
        """True when the landscape has changes that are not saved."""
        return self._landscape_edited_since_clean()

    @property
    def is_previewing(self) -> bool:
        return self._preview_base is not None

    @property
    def display_name(self) -> str:
        """File name, or the landscape's name for an unsaved landscape."""
        return Path(self._path).name if self._path else f"{self._landscape.name} (unsaved)"

    @property
    def grid(self) -> EnergyGrid:
        """Energy grid of the current landscape at its full ``grid_size`` (cached)."""
        return self._grid(self._landscape.grid_size)

    @property
    def live_grid(self) -> EnergyGrid:
        """Grid to derive basins, samples and occupancies from: the full grid, or during a
        drag preview one of at most PREVIEW_GRID_SIZE^2 cells."""
        n = self._landscape.grid_size
        return self._grid(min(n, PREVIEW_GRID_SIZE) if self.is_previewing else n)

    def _grid(self, n: int) -> EnergyGrid:
        cached = self._grids.get(n)
        if cached is None or not (cached[0] is self._landscape or cached[0] == self._landscape):
            cached = (self._landscape, self._drag_grid(n) or self._landscape.grid(n))
            self._grids[n] = cached
        return cached[1]

    def _drag_grid(self, n: int) -> EnergyGrid | None:
        """The grid of the landscape shown now from the drag's cached other wells, or None
        when the landscape shown is not the drag's preview."""
        drag = self._drag
        if drag is None or drag[2] is not self._landscape or self._preview_base is not drag[0]:
            return None
        base, index, shown = drag
        cached = self._drag_grids.get(n)
        if cached is None:
            cached = self._drag_grids[n] = DragGrid(base, index, n)
        return cached.energy_with(shown.wells[index])

    # --- whole document ---------------------------------------------------------------
    def reset(self, landscape: Landscape, path: str | None = None) -> None:
        """Replace the document (New / Open): clears undo history, clean, selection none."""
        self.undo_stack.clear()
        self._clean_landscape = landscape
        self._set_path(str(path) if path else "")
        self._selected = -1
        self.apply(landscape)
        self.sigSelectionChanged.emit(-1)
        self.set_conformation(*self._default_conformation())

    def open(self, path) -> None:
        """Load ``path``; raises LandscapeFileError (naming file and field) and leaves the
        document untouched when the file cannot be used."""
        landscape = load_landscape(path)
        self.reset(landscape, str(Path(path).resolve()))

    def save(self, path=None) -> None:
        """Write the landscape to ``path`` (default: its own path); raises OSError."""
        target = str(path or self._path)
        if not target:
            raise ValueError("save: the landscape has no file yet; give a path")
        save_landscape(self.committed_landscape, target)
        self._clean_landscape = self.committed_landscape
        self._set_path(str(Path(target).resolve()))
        self.undo_stack.setClean()

    def _set_path(self, path: str) -> None:
        if path != self._path:
            self._path = path
            self.sigPathChanged.emit(path)

    # --- edits: each is one undo command ------------------------------------------------
    def move_well(self, index: int, cc1_deg: float, cc2_deg: float) -> None:
        """Move well ``index`` (0-based) to (cc1, cc2) degrees, clamped to the domain."""
        base = self._end_preview()
        well = base.wells[index]
        new = self.clamp_to_domain(cc1_deg, cc2_deg)
        if new != (well.cc1_deg, well.cc2_deg):
            self.undo_stack.push(cmd.MoveWellCommand(self, index, (well.cc1_deg, well.cc2_deg), new))

    def update_well(self, index: int, **changes) -> None:
        """Change fields of well ``index`` (``depth_kcal_per_mol=4.0``...); raises ValueError
        naming the field if the new value is invalid (nothing is pushed then)."""
        base = self._end_preview()
        well = base.wells[index]
        dataclasses.replace(well, **changes)  # validates before anything is pushed
        old = {k: getattr(well, k) for k in changes}
        if old != changes:
            self.undo_stack.push(cmd.EditWellCommand(self, index, old, dict(changes)))

    def add_well(self, well: Well, index: int | None = None) -> int:
        """Insert ``well`` (at the end by default), select it, and return its index."""
        base = self._end_preview()
        index = len(base.wells) if index is None else index
        self.undo_stack.push(cmd.AddWellCommand(self, index, well))
        self.select_well(index)
        return index

    def remove_well(self, index: int) -> None:
        base = self._end_preview()
        if 0 <= index < len(base.wells):
            self.undo_stack.push(cmd.RemoveWellCommand(self, index, base.wells[index]))

    def set_landscape_field(self, name: str, value) -> None:
        """Change one field of the landscape (``temperature_K``, ``core_radius_deg``...)."""
        base = self._end_preview()
        dataclasses.replace(base, **{name: value})  # validates
        old = getattr(base, name)
        if old != value:
            self.undo_stack.push(cmd.SetLandscapeFieldCommand(self, name, old, value))

    def new_well_at(self, cc1_deg: float, cc2_deg: float) -> Well:
        """A well for (cc1, cc2) shaped like the selected one (or the median of the others)."""
        land = self.committed_landscape
        cc1_deg, cc2_deg = self.clamp_to_domain(cc1_deg, cc2_deg)
        number = str(len(land.wells) + 1)
        if 0 <= self._selected < len(land.wells):
            like = land.wells[self._selected]
            return dataclasses.replace(like, name=number, cc1_deg=cc1_deg, cc2_deg=cc2_deg)
        if land.wells:
            depths = sorted(w.depth_kcal_per_mol for w in land.wells)
            sigmas = sorted(0.5 * (w.sigma1_deg + w.sigma2_deg) for w in land.wells)
            depth, sigma = depths[len(depths) // 2], sigmas[len(sigmas) // 2]
        else:
            depth = 3.0
            sigma = 0.06 * (land.cc1_range_deg[1] - land.cc1_range_deg[0])
        return Well(number, cc1_deg, cc2_deg, depth, sigma, sigma, 0.0)

    def apply(self, landscape: Landscape) -> None:
        """Make ``landscape`` current (ending any preview) without an undo step. For undo
        commands and ``reset`` only; user edits go through the edit methods above."""
        self._preview_base = None
        self._drag, self._drag_grids = None, {}
        self._show(landscape)
        self.set_conformation(*self._conformation)  # back inside a domain that shrank

    def _show(self, landscape: Landscape) -> None:
        self._landscape = landscape
        if self._selected >= len(landscape.wells):
            self._selected = -1
            self.sigSelectionChanged.emit(-1)
        self.sigLandscapeChanged.emit(landscape)

    # --- live previews (drags): no undo step --------------------------------------------
    def preview_landscape(self, landscape: Landscape) -> None:
        if self._preview_base is None:
            self._preview_base = self._landscape
        self._show(landscape)

    def preview_move_well(self, index: int, cc1_deg: float, cc2_deg: float) -> None:
        """Show well ``index`` at (cc1, cc2) while dragging; ``move_well`` commits it."""
        base = self.committed_landscape
        cc1_deg, cc2_deg = self.clamp_to_domain(cc1_deg, cc2_deg)
        moved = dataclasses.replace(base.wells[index], cc1_deg=cc1_deg, cc2_deg=cc2_deg)
        shown = base.with_well(index, moved)
        if self._drag is None or self._drag[0] is not base or self._drag[1] != index:
            self._drag_grids = {}  # a new drag: other wells are summed at the first grid asked
        self._drag = (base, index, shown)
        self.preview_landscape(shown)

    def cancel_preview(self) -> None:
        """Go back to the landscape from before the preview."""
        if self._preview_base is not None:
            base, self._preview_base = self._preview_base, None
            self.apply(base)

    def _end_preview(self) -> Landscape:
        """Drop the preview silently (the command pushed next redraws) and return the base."""
        if self._preview_base is not None:
            self._landscape, self._preview_base = self._preview_base, None
            self._drag, self._drag_grids = None, {}
        return self._landscape

    # --- the current object: each change is one undo command ---------------------------
    @property
    def current_object(self) -> CurrentObject:
        """Where the current two-body object comes from (gui.model.object_state)."""
        return self._object

    def set_current_object(self, current: CurrentObject) -> None:
        """Make ``current`` the document's object: one undo step, nothing when it is already."""
        if current != self._object:
            self.undo_stack.push(cmd.SetObjectCommand(self, self._object, current))

    def apply_object(self, current: CurrentObject) -> None:
        """Make ``current`` the object without an undo step (for the undo commands)."""
        if current != self._object:
            self._object = current
            self.sigObjectChanged.emit(current)

    # --- shared view state (not undoable) -----------------------------------------------
    @property
    def simulation_plan(self):
        """The plan in the Simulation tab (engine.simulation.plan.SimulationPlan), None
        before it has a valid one; the projection preview shows that plan's noise."""
        return self._simulation_plan

    def set_simulation_plan(self, plan) -> None:
        if plan != self._simulation_plan:
            self._simulation_plan = plan
            self.sigSimulationPlanChanged.emit(plan)

    @property
    def designer_path(self):
        """The path the Landscape tab shows (gui.model.designer_path.DesignerPath), None
        before it has one; the motion player and the lineage view read it."""
        return self._designer_path

    def set_designer_path(self, path) -> None:
        if path is not self._designer_path:
            self._designer_path = path
            self.sigDesignerPathChanged.emit(path)

    @property
    def selected_well(self) -> int:
        return self._selected

    def select_well(self, index: int) -> None:
        index = index if 0 <= index < len(self._landscape.wells) else -1
        if index != self._selected:
            self._selected = index
            self.sigSelectionChanged.emit(index)

    @property
    def conformation(self) -> tuple[float, float]:
        """Current conformation (cc1, cc2) in degrees."""
        return self._conformation

    def set_conformation(self, cc1_deg: float, cc2_deg: float) -> None:
        value = self.clamp_to_domain(cc1_deg, cc2_deg)
        if value != self._conformation:
            self._conformation = value
            self.sigConformationChanged.emit(*value)

    @property
    def energy_unit(self) -> str:
        return self._energy_unit

    def set_energy_unit(self, unit: str) -> None:
        if unit not in ENERGY_UNITS:
            raise ValueError(f"energy unit: must be one of {ENERGY_UNITS} (got {unit!r})")
        if unit != self._energy_unit:
            self._energy_unit = unit
            self.sigEnergyUnitChanged.emit(unit)

    @property
    def energy_scale(self) -> float:
        """Multiply kcal/mol by this to get the display unit."""
        return 1.0 if self._energy_unit == "kcal/mol" else 1.0 / self._landscape.kT_kcal_per_mol

    def clamp_to_domain(self, cc1_deg: float, cc2_deg: float) -> tuple[float, float]:
        (lo1, hi1), (lo2, hi2) = self._landscape.cc1_range_deg, self._landscape.cc2_range_deg
        return float(min(max(cc1_deg, lo1), hi1)), float(min(max(cc2_deg, lo2), hi2))

    def _default_conformation(self) -> tuple[float, float]:
        land = self._landscape
        if land.wells:
            return float(land.wells[0].cc1_deg), float(land.wells[0].cc2_deg)
        return (0.5 * sum(land.cc1_range_deg), 0.5 * sum(land.cc2_range_deg))
