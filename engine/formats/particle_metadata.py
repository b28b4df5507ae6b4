"""The per-particle parameters of one chunk, in the order the dataset's files list them.

Every metadata writer (STAR, cryoDRGN pickles, cryoSPARC .cs, ground truth) takes these
chunks in particle order; the simulation draws them from the seed (engine.simulation.chunks).

Example::

    meta = ParticleMetadata.empty()
    len(meta), meta.image_names()          # 0, array([], dtype='<U...')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.formats.image_names import format_image_names, stack_file_name


@dataclass(frozen=True, eq=False)
class ParticleMetadata:
    """Per-particle parameters of one chunk (n particles, particle order).

    first: 0-based index of the chunk's first particle in the dataset; chunk: chunk number.
    cc1_deg, cc2_deg (n,) float64 degrees; well (n,) int16 1-based; core (n,) bool;
    energy_kcal_per_mol (n,) float64; euler_deg (n, 3) float64 RELION (rot, tilt, psi);
    origin_A (n, 2) float64 rlnOriginX/YAngst (the particle sits at box centre minus origin);
    defocus_u_A, defocus_v_A (n,) float64 Angstrom, defocus_angle_deg (n,) float64.
    """

    chunk: int
    first: int
    cc1_deg: np.ndarray
    cc2_deg: np.ndarray
    well: np.ndarray
    core: np.ndarray
    energy_kcal_per_mol: np.ndarray
    euler_deg: np.ndarray
    origin_A: np.ndarray
    defocus_u_A: np.ndarray
    defocus_v_A: np.ndarray
    defocus_angle_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.cc1_deg)

    @property
    def stack_name(self) -> str:
        return stack_file_name(self.chunk)

    def image_names(self) -> np.ndarray:
        """(n,) str RELION image names, 1-based within the chunk's stack."""
        return format_image_names(np.arange(1, len(self) + 1), self.stack_name)

    @classmethod
    def empty(cls) -> ParticleMetadata:
        """A chunk of no particles (chunk 0), for the headers of empty files."""
        z = np.zeros(0)
        return cls(0, 0, z, z, z.astype(np.int16), z.astype(bool), z, np.zeros((0, 3)), np.zeros((0, 2)), z, z, z)
