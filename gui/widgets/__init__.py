"""Widgets and helpers every tab shares: the job runner, figure export, settings, the well
palette and contour lines."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "jobs": ["JobRunner", "SYNC_LIMIT_ROWS", "job_progress_bar"],
    "figure_export": ["ask_and_export", "export_figure"],
    "settings": ["AppSettings"],
    "palette": ["WELL_COLOURS", "TRANSITION_COLOUR", "well_colour", "well_rgba"],
    "contours": ["contour_segments", "nice_levels"],
})
