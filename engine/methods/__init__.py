"""Run external methods (RELION multibody, cryoDRGN, RECOVAR) as engine jobs, here or on SLURM.

One module per method builds its steps from a dataset folder and runs them:
``relion_multibody`` (masks and reference from the dataset's maps, consensus refinement,
bodies.star, multibody, flex analysis), ``cryodrgn`` (train_vae on the dataset's poses and CTF,
analyze), ``recovar`` (pipeline with a mask from the dataset's maps).

A method's job is a list of :class:`Step` (one external command each) run in a job folder by
``run_steps`` through a runner: :class:`LocalRunner` (child processes in their own process
group) or :class:`SlurmRunner` (one sbatch script per step). Logs go to ``JOB/logs``, finished
steps are stamped in ``JOB/steps`` so a re-run resumes, progress is parsed from the tool's own
lines (:class:`ProgressParser`), and ``require_tool`` checks a tool is installed and recent.

Example::

    from engine.methods import Step, ProgressParser, SlurmRunner, run_steps
    step = Step("train", ["cryodrgn", "train_vae", ...], parser=ProgressParser(r"Epoch: (?P<done>\\d+)", total=25))
    run_steps([step], "runs/ds1/cryodrgn", runner=SlurmRunner(), progress=print, log=print)
"""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "process": ["Step", "StepResources", "StepResult", "JobResult", "StepError", "StepRunner", "LocalRunner",
                "run_steps", "command_line", "is_stamped", "write_stamp", "stamp_path", "log_path",
                "end_process_group"],
    "progress": ["ProgressParser", "LineParser", "ProgressTracker", "StepProgress", "LineSplitter", "eta_s", "EPOCH_PARSER",
                 "ITERATION_PARSER", "PERCENT_PARSER"],
    "tools": ["ToolRequirement", "FoundTool", "ToolMissingError", "require_tool", "parse_version",
              "version_at_least"],
    "well_maps": ["WellMapOptions", "plan_well_maps", "run_well_maps", "WellMapsResult"],
    "well_map_scores": ["score_well_maps", "well_maps_job", "Labelling", "LabelMaps"],
    "catalog": ["METHODS", "Method", "MethodRun", "OptionField", "with_resources"],
    "relion_multibody": ["MultibodyOptions", "MultibodyPlan", "MultibodyResult", "plan_multibody",
                         "run_relion_multibody", "require_relion"],
    "cryodrgn": ["CryodrgnOptions", "CryodrgnRun", "run_cryodrgn", "cryodrgn_steps", "check_cryodrgn"],
    "recovar": ["RecovarOptions", "RecovarRun", "run_recovar", "recovar_steps", "check_recovar"],
    "slurm": ["SlurmRunner", "SlurmSettings", "FinalState", "sbatch_script", "parse_job_id", "parse_scontrol_job",
              "script_path", "output_paths"],
})
