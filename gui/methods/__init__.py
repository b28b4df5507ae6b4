"""The Methods tab: run a method (RELION multibody, cryoDRGN, RECOVAR) on a dataset, here or on
SLURM, with its options, command lines, tool check, progress and log; a finished run is added
to the comparison and scored.

Example::

    from gui.methods import MethodsTab
    tab = MethodsTab(doc, comparison_model)
"""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "methods_tab": ["MethodsTab"],
    "options_form": ["OptionsForm", "option_help"],
    "run_place": ["RunPlaceForm"],
    "run_log": ["RunLog", "describe_progress", "format_eta"],
    "preview": ["Preview", "preview_job", "tool_status_html"],
    "dataset_picker": ["DatasetPicker"],
})
