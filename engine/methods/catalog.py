"""The methods elbench can run, behind one interface: what the CLI's ``run`` and the GUI's
Methods tab use, so neither knows any method's own functions.

Each :class:`Method` names its options dataclass (its fields, with their types and defaults,
are the options a user sets: :meth:`Method.option_fields`), the loader kind of what it
writes, a default job folder next to the dataset (``<dataset>_<method>``), the exact command
lines (``--dry-run``), the installed-and-recent-enough check, and :meth:`Method.run`, a plain
engine job that ends in a :class:`MethodRun` naming the file to score.

Example::

    method = METHODS["cryodrgn"]
    options = method.options(epochs=5, zdim=4)
    print(method.command_lines("runs/ds1", options=options))
    run = method.run("runs/ds1", options=options, progress=print, log=print)
    run.output_path, run.output_kind      # -> load_output(run.output_path, ds, run.output_kind)
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.methods import cryodrgn, recovar, relion_multibody
from engine.methods.process import StepResources, command_line

COMPLETE = "complete"


@dataclass(frozen=True)
class OptionField:
    """One option of a method: ``kind`` is int, float, bool or str; ``optional``: None is a
    value (it means "decide for me", see the options' docstring)."""

    name: str
    kind: type
    optional: bool
    default: object


@dataclass(frozen=True)
class MethodRun:
    """How a method's job ended: status "complete" or "cancelled"; output_path: the file to
    score (there when complete), read with the loader ``output_kind``."""

    method: str
    status: str
    job_dir: Path
    output_path: Path
    output_kind: str


@dataclass(frozen=True)
class Method:
    """One runnable method (see the module docstring)."""

    name: str
    title: str
    output_kind: str
    options_type: type
    _check: Callable[[], str]
    _command_lines: Callable[[Path, Path, object], str]
    _run: Callable[..., tuple[str, Path]]

    def default_job_dir(self, dataset) -> Path:
        dataset = Path(dataset).resolve()
        return dataset.with_name(f"{dataset.name}_{self.name}")

    def options(self, **values):
        """The options dataclass with ``values`` set (ValueError names a bad one)."""
        return self.options_type(**values)

    def option_fields(self) -> list[OptionField]:
        """The options a user sets, in declaration order (resources are set per run place)."""
        hints = typing.get_type_hints(self.options_type)
        result = []
        for f in dataclasses.fields(self.options_type):
            args = typing.get_args(hints[f.name]) or (hints[f.name],)
            kinds = [a for a in args if a is not type(None)]
            if len(kinds) == 1 and kinds[0] in (int, float, bool, str):
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                result.append(OptionField(f.name, kinds[0], type(None) in args, default))
        return result

    def check(self) -> str:
        """The installed tool's version; ToolMissingError says how to install it."""
        return self._check()

    def command_lines(self, dataset, job_dir=None, options=None) -> str:
        """The exact commands the job runs, one per line, copyable (shell-quoted)."""
        dataset = Path(dataset).resolve()
        job = Path(job_dir).resolve() if job_dir is not None else self.default_job_dir(dataset)
        return self._command_lines(dataset, job, options or self.options_type())

    def run(self, dataset, job_dir=None, options=None, runner=None, resume: bool = True,
            progress=None, should_stop=None, log=None) -> MethodRun:
        """Run the job (an engine job: callbacks as in engine.methods.process.run_steps)."""
        dataset = Path(dataset).resolve()
        job = Path(job_dir).resolve() if job_dir is not None else self.default_job_dir(dataset)
        status, output = self._run(dataset, job, options or self.options_type(), runner=runner, resume=resume,
                                   progress=progress, should_stop=should_stop, log=log)
        return MethodRun(self.name, status, job, output, self.output_kind)


def with_resources(options, resources: StepResources):
    """``options`` asking a scheduler for ``resources``: cryoDRGN and RECOVAR take them as
    they are; RELION's job sizes its MPI ranks from the CPUs (tasks x CPUs per task)."""
    if isinstance(options, relion_multibody.MultibodyOptions):
        return dataclasses.replace(options, cpus=resources.tasks * resources.cpus_per_task)
    return dataclasses.replace(options, resources=resources)


def _relion_lines(dataset: Path, job: Path, options) -> str:
    return relion_multibody.plan_multibody(dataset, job, options).command_lines()


def _relion_run(dataset: Path, job: Path, options, **job_args) -> tuple[str, Path]:
    result = relion_multibody.run_relion_multibody(relion_multibody.plan_multibody(dataset, job, options), **job_args)
    return result.status, result.projections_path


def _steps_text(steps, job: Path) -> str:
    return "".join(f"# {step.name}\n{command_line(step, job)}\n" for step in steps)


def _cryodrgn_run(dataset: Path, job: Path, options, **job_args) -> tuple[str, Path]:
    result = cryodrgn.run_cryodrgn(dataset, job, options, **job_args)
    return result.job.status, result.z_path


def _recovar_run(dataset: Path, job: Path, options, **job_args) -> tuple[str, Path]:
    result = recovar.run_recovar(dataset, job, options, **job_args)
    return result.job.status, result.latent_path


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("relion_multibody", "RELION multibody", "relion_multibody", relion_multibody.MultibodyOptions,
           relion_multibody.require_relion, _relion_lines, _relion_run),
    Method("cryodrgn", "cryoDRGN", "cryodrgn", cryodrgn.CryodrgnOptions,
           lambda: cryodrgn.check_cryodrgn().version,
           lambda d, j, o: _steps_text(cryodrgn.cryodrgn_steps(d, j, o, resume=False), j), _cryodrgn_run),
    Method("recovar", "RECOVAR", "recovar", recovar.RecovarOptions,
           lambda: recovar.check_recovar().version,
           lambda d, j, o: _steps_text(recovar.recovar_steps(d, j, o), j), _recovar_run),
)}
