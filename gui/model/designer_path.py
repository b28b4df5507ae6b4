"""The path the Landscape tab shows: what other tabs read of it through the document.

The designer's path panel (gui.landscape.path_profile_view) finds the minimum-energy path
between two picked wells, or follows a polyline the user drew; each time its path changes it
publishes a :class:`DesignerPath` with ``LandscapeDocument.set_designer_path`` (signal
``sigDesignerPathChanged``). The Structure tab's motion player plays the SSU along it, and the
Comparison tab's lineage view starts from the same two wells. Not undoable and not saved with
the landscape: it is view state, like the current conformation.

Example::

    doc.sigDesignerPathChanged.connect(player.on_designer_path)
    path = doc.designer_path            # None before the designer has a path
    path.points_deg                     # (N, 2) (cc1, cc2) degrees, in the order travelled
    path.end_wells                      # (1, 2): the wells picked, or a drawn path's first and last visits
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class DesignerPath:
    """One path of the designer.

    points_deg: (N, 2) (cc1, cc2) degrees, N >= 2, the profile's points (a drawn path densified
    to the grid step, so that a walk along it meets every bump). wells: the two 1-based wells
    picked, or None for a drawn path. visits: the wells the path goes down into, in order
    (engine.landscape.path_profile).
    """

    points_deg: np.ndarray
    wells: tuple[int, int] | None
    visits: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        points = np.asarray(self.points_deg, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or not np.isfinite(points).all():
            raise ValueError(f"points_deg: must be (N, 2) finite degrees with N >= 2 (got shape {points.shape})")
        points.setflags(write=False)
        object.__setattr__(self, "points_deg", points)
        if self.wells is not None:
            object.__setattr__(self, "wells", (int(self.wells[0]), int(self.wells[1])))
        object.__setattr__(self, "visits", tuple(int(w) for w in self.visits))

    @property
    def drawn(self) -> bool:
        return self.wells is None

    @property
    def end_wells(self) -> tuple[int, int] | None:
        """The wells it joins: the picked pair, else a drawn path's first and last visits
        (None when it stays in one well)."""
        if self.wells is not None:
            return self.wells
        if len(self.visits) >= 2 and self.visits[0] != self.visits[-1]:
            return self.visits[0], self.visits[-1]
        return None


__all__ = ["DesignerPath"]
