"""The Simulation tab: the plan form with its estimate, Start / Cancel / Resume, progress, log and
the particle gallery."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "simulation_panel": ["SimulationPanel"],
    "particle_gallery": ["ParticleGallery"],
})
