"""Files on disk: the dataset's writers (MRC stacks, STAR, cryoDRGN pickles, cryoSPARC .cs,
ground truth), its reader, particle image names, the restricted unpickler, the loaders of
method outputs, and the checks every reader makes first (input_checks: size limits per kind of
file, text tables cut short)."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "dataset": ["Dataset", "DatasetError", "load_dataset", "GROUND_TRUTH_FILE"],
    "ground_truth": ["GroundTruth", "GroundTruthError", "load_ground_truth", "save_ground_truth",
                     "ground_truth_of", "save_ground_truth_streaming"],
    "image_names": ["format_image_names", "parse_image_names", "stack_file_name"],
    "particle_metadata": ["ParticleMetadata"],
    "mrc_stack": ["MrcStackWriter"],
    "star": ["Optics", "StarFileError", "read_star_angles", "read_star_blocks", "write_particles_star"],
    "cryodrgn": ["write_cryodrgn_ctf", "write_cryodrgn_poses"],
    "cryosparc": ["write_cryosparc_particles"],
    "input_checks": ["MAX_PARTICLES", "cut_short_problem"],
    "safe_pickle": ["PickleLoadError", "UnsafePickleError", "load_pickle", "load_pickles"],
}, modules=("loaders",))
