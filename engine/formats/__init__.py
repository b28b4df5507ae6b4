"""Files on disk: the dataset's writers (MRC stacks, STAR, cryoDRGN pickles, cryoSPARC .cs,
ground truth) and reader, the restricted unpickler, and the loaders of method outputs."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "dataset": ["Dataset", "DatasetError", "load_dataset", "GROUND_TRUTH_FILE"],
    "ground_truth": ["GroundTruth", "GroundTruthError", "load_ground_truth", "save_ground_truth"],
    "safe_pickle": ["PickleLoadError", "UnsafePickleError", "load_pickle", "load_pickles"],
    "writer": ["MrcStackWriter", "Optics", "ParticleMetadata", "write_particles_star"],
}, modules=("loaders",))
