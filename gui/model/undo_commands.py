"""Undo commands for the landscape document: each holds only the old and new values it changes.

Every landscape command rebuilds the landscape from the document's committed landscape and
hands it to ``LandscapeDocument.apply``; ``SetObjectCommand`` swaps the current object
(``LandscapeDocument.apply_object``). Consecutive edits of the same field(s) of the same well (spin-box
arrow steps, mouse wheel) within ``MERGE_WINDOW_S`` merge into one undo step; a drag is one
``MoveWellCommand`` pushed on release.

Example::

    doc.undo_stack.push(MoveWellCommand(doc, 2, old_xy=(4.0, -9.0), new_xy=(5.0, -8.0)))
"""
from __future__ import annotations

import dataclasses
import time
import weakref

from PySide6.QtGui import QUndoCommand

MERGE_WINDOW_S = 1.5

_FIELD_LABELS = {
    "name": "name", "cc1_deg": "cc1", "cc2_deg": "cc2", "depth_kcal_per_mol": "depth",
    "sigma1_deg": "sigma1", "sigma2_deg": "sigma2", "angle_deg": "angle",
    "temperature_K": "temperature", "core_radius_deg": "core radius",
    "cc1_range_deg": "cc1 range", "cc2_range_deg": "cc2 range", "grid_size": "grid size",
    "background_kcal_per_mol": "background energy", "confinement_kcal_per_mol": "confinement",
}


def _label(field: str) -> str:
    return _FIELD_LABELS.get(field, field)


class _DocumentCommand(QUndoCommand):
    """A command of a document's undo stack. It holds the document weakly: the document owns
    the stack and the stack its commands, so a strong reference back would make a cycle that
    only Python's garbage collector frees, in an order Qt objects may not survive; without
    it the document goes when its last reference does."""

    def __init__(self, text: str, doc):
        super().__init__(text)
        self._doc = weakref.ref(doc)

    @property
    def doc(self):
        return self._doc()


class MoveWellCommand(_DocumentCommand):
    """Move well ``index`` (0-based) from ``old_xy`` to ``new_xy`` (cc1, cc2) degrees."""

    def __init__(self, doc, index: int, old_xy: tuple[float, float], new_xy: tuple[float, float]):
        super().__init__(f"Move well {index + 1}", doc)
        self.index, self.old_xy, self.new_xy = index, old_xy, new_xy

    def _set(self, xy) -> None:
        land = self.doc.committed_landscape
        well = dataclasses.replace(land.wells[self.index], cc1_deg=xy[0], cc2_deg=xy[1])
        self.doc.apply(land.with_well(self.index, well))

    def redo(self) -> None:
        self._set(self.new_xy)

    def undo(self) -> None:
        self._set(self.old_xy)


class EditWellCommand(_DocumentCommand):
    """Change fields of well ``index``: ``old`` and ``new`` map field names to values."""

    ID = 1001

    def __init__(self, doc, index: int, old: dict, new: dict):
        fields = ", ".join(_label(k) for k in new)
        super().__init__(f"Edit well {index + 1} {fields}", doc)
        self.index, self.old, self.new = index, old, new
        self.time = time.monotonic()

    def _set(self, values: dict) -> None:
        land = self.doc.committed_landscape
        self.doc.apply(land.with_well(self.index, dataclasses.replace(land.wells[self.index], **values)))

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, EditWellCommand) or other.index != self.index
                or other.new.keys() != self.new.keys() or other.time - self.time > MERGE_WINDOW_S):
            return False
        self.new, self.time = other.new, other.time
        self.setObsolete(self.new == self.old)
        return True


class AddWellCommand(_DocumentCommand):
    """Insert ``well`` at position ``index``."""

    def __init__(self, doc, index: int, well):
        super().__init__(f"Add well {index + 1}", doc)
        self.index, self.well = index, well

    def redo(self) -> None:
        land = self.doc.committed_landscape
        wells = land.wells[:self.index] + (self.well,) + land.wells[self.index:]
        self.doc.apply(dataclasses.replace(land, wells=wells))

    def undo(self) -> None:
        land = self.doc.committed_landscape
        self.doc.apply(dataclasses.replace(land, wells=land.wells[:self.index] + land.wells[self.index + 1:]))


class RemoveWellCommand(QUndoCommand):
    """Remove well ``index`` (holding it so undo puts it back in place)."""

    def __init__(self, doc, index: int, well):
        super().__init__(f"Delete well {index + 1}")
        self._add = AddWellCommand(doc, index, well)

    def redo(self) -> None:
        self._add.undo()

    def undo(self) -> None:
        self._add.redo()


class SetLandscapeFieldCommand(_DocumentCommand):
    """Change one field of the landscape (temperature_K, core_radius_deg, ...)."""

    ID = 1002

    def __init__(self, doc, field: str, old, new):
        super().__init__(f"Set {_label(field)}", doc)
        self.field, self.old, self.new = field, old, new
        self.time = time.monotonic()

    def _set(self, value) -> None:
        self.doc.apply(dataclasses.replace(self.doc.committed_landscape, **{self.field: value}))

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, SetLandscapeFieldCommand) or other.field != self.field
                or other.time - self.time > MERGE_WINDOW_S):
            return False
        self.new, self.time = other.new, other.time
        self.setObsolete(self.new == self.old)
        return True


class SetObjectCommand(_DocumentCommand):
    """Replace the current object ``old`` by ``new`` (gui.model.object_state.CurrentObject):
    loading maps, or going back to the built-in object."""

    def __init__(self, doc, old, new):
        text = f"Load {new.description}" if new.maps is not None else f"Use {new.description}"
        super().__init__(text, doc)
        self.old, self.new = old, new

    def redo(self) -> None:
        self.doc.apply_object(self.new)

    def undo(self) -> None:
        self.doc.apply_object(self.old)
