"""A dataset from a plan: the plan (JSON), the object and the per-process context, chunks made
from their own seeds, the noise calibration, executors (local processes, Dask), the checks a
run makes before it allocates (disk, memory, workers), the run with its folder lock and
manifest, the metadata files, resume and verification."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "plan": ["SimulationPlan", "ObjectSpec", "load_plan", "save_plan", "plan_from_dict", "plan_to_dict"],
    "errors": ["PlanError", "SimulationError"],
    "resources": ["NotEnoughDiskError", "NotEnoughMemoryError", "check_disk_space", "check_memory", "workers_for"],
    "folder": ["unfinished_start"],
    "run": ["run_simulation", "estimate_seconds"],
    "verify": ["verify_dataset"],
    "calibration": ["plan_noise"],
    "objects": ["build_object"],
    "manifest": ["ManifestError", "read_manifest"],
    "executors": ["available_cpus", "make_executor"],
})
