"""The Comparison tab: a dataset and method outputs, their scores, recall bars, confusion
matrices, lineage views, recovered landscapes, selections and the report figures."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "comparison_tab": ["ComparisonTab"],
    "comparison_model": ["ComparisonModel"],
    "lineage_view": ["LineageView"],
    "selection": ["SelectionModel"],
    "report_figures": ["write_report_figures"],
})
