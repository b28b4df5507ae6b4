"""A dataset from a plan: the plan (JSON), chunks made from their own seeds, executors (local
processes, Dask), the run with its manifest, resume and verification."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "plan": ["SimulationPlan", "ObjectSpec", "PlanError", "load_plan", "save_plan", "plan_from_dict", "plan_to_dict"],
    "run": ["SimulationError", "run_simulation", "estimate_seconds", "verify_dataset"],
    "manifest": ["ManifestError", "read_manifest"],
    "executors": ["available_cpus", "make_executor"],
})
