"""`elbench run METHOD DATASET`: options made from the catalog, --dry-run for every method, the
refusals (missing tool, not a dataset, settings that do not apply where the job runs), a failing
step's error, and one real RELION multibody run through the command: cancelled with SIGTERM in its consensus (no
process left), resumed by the same command, its scores printed as `evaluate` prints them."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import main
from engine.commands.run import method_options
from engine.stop_signals import StopOnSignals
from engine.landscape.presets import load_preset
from engine.methods.catalog import METHODS
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation

ROOT = Path(__file__).resolve().parents[3]
E2E_PARTICLES = 100
E2E_TIMEOUT_S = 600   # measured: the run about 30-40 s, 107 s on a 2-core machine at load 6


def simulate(folder: Path, n: int) -> Path:
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=32, snr=10.0, seed=0,
                          chunk_size=n, write_cryosparc=False)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("run_cli") / "ds", 64)


def parse(*argv):
    return main.build_parser().parse_args(["run", *map(str, argv)])


def elbench(*argv) -> int:
    return main.main(["run", *map(str, argv)])


def changed_value(f):
    """A value of field ``f`` other than its default, and how it is written on the command line."""
    if f.kind is bool:
        value = not f.default if f.default is not None else True
        return value, [f"--{'' if value else 'no-'}{f.name.replace('_', '-')}"]
    value = "sphere" if f.kind is str else (f.default or 15) + 1 if f.kind is int else (f.default or 1.0) / 2
    return value, [f"--{f.name.replace('_', '-')}", str(value)]


@pytest.mark.parametrize("name", list(METHODS))
def test_every_option_of_the_catalog_is_an_argument_of_its_type(name, capsys):
    method = METHODS[name]
    fields = method.option_fields()
    with pytest.raises(SystemExit):
        elbench(name, "--help")
    help_text = capsys.readouterr().out
    argv, expected = [], {}
    for f in fields:
        expected[f.name], words = changed_value(f)
        argv += words
        assert words[0] in help_text
    options = method_options(method, parse(name, "DS", *argv))
    assert options == method.options(**expected)
    for f in fields:                       # converted to the field's type, not left as text
        assert type(getattr(options, f.name)) is f.kind
    assert method_options(method, parse(name, "DS")) == method.options()


def test_optional_options_take_auto_and_bad_values_are_refused(dataset, capsys):
    relion = method_options(METHODS["relion_multibody"], parse("relion_multibody", "DS", "--max-iterations", "auto"))
    assert relion.max_iterations is None
    recovar = method_options(METHODS["recovar"], parse("recovar", "DS", "--downsample-px", "none", "--no-lazy"))
    assert (recovar.downsample_px, recovar.lazy) == (None, False)
    with pytest.raises(SystemExit):
        parse("cryodrgn", "DS", "--zdim", "auto")         # not optional: auto is no int
    assert "--zdim: expected an int, got 'auto'" in capsys.readouterr().err
    assert elbench("cryodrgn", dataset, "--zdim", "0", "--dry-run") == 2
    assert "zdim must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(METHODS))
def test_dry_run_prints_the_exact_commands_and_writes_nothing(dataset, name, capsys, tmp_path):
    before = sorted(p.relative_to(dataset.parent) for p in dataset.parent.rglob("*"))
    job = tmp_path / "job"
    assert elbench(name, dataset, "--job", job, "--dry-run") == 0
    out = capsys.readouterr().out
    assert out == METHODS[name].command_lines(dataset, job)
    assert f"cd {job} && " in out and not job.exists()
    assert sorted(p.relative_to(dataset.parent) for p in dataset.parent.rglob("*")) == before


def test_dry_run_through_slurm_shows_the_resources_reaching_the_command(dataset, capsys):
    assert elbench("relion_multibody", dataset, "--where", "slurm", "--cpus", "4", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "(4 CPUs, 5 ranks)" in out and "mpirun -n 5 relion_refine_mpi" in out


def test_a_missing_tool_is_one_line_saying_how_to_install_it(dataset, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert elbench("relion_multibody", dataset, "--job", tmp_path / "job") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: relion_refine was not found on PATH. Install it: apt-get install relion")
    assert err.count("\n") == 1 and not (tmp_path / "job").exists()


def test_a_folder_that_is_no_dataset_is_refused_naming_the_file(dataset, capsys, tmp_path):
    messages = {}
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_manifest").mkdir()
    shutil.copy(dataset / "ground_truth.npz", tmp_path / "no_manifest")
    (tmp_path / "a_file").write_text("")
    for name in ("empty", "no_manifest", "a_file", "absent"):
        assert elbench("cryodrgn", tmp_path / name, "--dry-run") == 2
        messages[name] = capsys.readouterr().err
        assert messages[name].count("\n") == 1
    assert messages["empty"] == f"error: {tmp_path / 'empty'}: not a dataset folder (no ground_truth.npz)\n"
    assert messages["no_manifest"].startswith(f"error: {tmp_path / 'no_manifest' / 'manifest.json'}: missing")
    assert "not a folder" in messages["a_file"] and "no such folder" in messages["absent"]


def test_settings_that_do_not_apply_where_the_job_runs_are_refused(dataset, capsys):
    assert elbench("cryodrgn", dataset, "--partition", "gpu", "--gpus", "1", "--dry-run") == 2
    assert "--partition, --gpus: for --where slurm only" in capsys.readouterr().err
    assert elbench("cryodrgn", dataset, "--cpus", "4", "--dry-run") == 2           # cryoDRGN has no cpus option
    assert "--cpus: for --where slurm only" in capsys.readouterr().err
    assert elbench("relion_multibody", dataset, "--cpus", "2", "--dry-run") == 0   # RELION's ranks, locally
    capsys.readouterr()
    assert elbench("relion_multibody", dataset, "--where", "slurm", "--memory-GB", "8", "--dry-run") == 2
    assert "--memory-GB: RELION multibody asks SLURM for CPUs only" in capsys.readouterr().err
    assert elbench("cryodrgn", dataset, "--where", "slurm", "--template", "/no/such.sbatch", "--dry-run") == 2
    assert "cannot read the SLURM template /no/such.sbatch" in capsys.readouterr().err


def test_the_first_signal_asks_to_stop_the_second_aborts():
    stop, said, before = threading.Event(), [], signal.getsignal(signal.SIGTERM)
    signals = StopOnSignals(stop, said.append)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set() and signals.last == signal.SIGTERM and "Ctrl-C again" in said[0]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)      # ignored while aborting
        assert signals.last == signal.SIGINT
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_failed_step_prints_the_tools_error_and_exits_1(dataset, capsys, tmp_path):
    broken = tmp_path / "ds"
    shutil.copytree(dataset, broken, symlinks=True)
    (broken / "particles.star").write_text("data_particles\n\nloop_\n_rlnImageName #1\n")   # no optics block
    job = tmp_path / "job"
    assert elbench("relion_multibody", broken, "--job", job, "--cpus", "2", "--max-iterations", "1") == 1
    captured = capsys.readouterr()
    assert "error: step 'consensus' failed (exit code 1): mpirun -n 3 relion_refine_mpi --i" in captured.err
    assert "RELION said" in captured.err and "_optics.star" in captured.err           # the tool's own words
    assert f"(the whole log: {job / 'run.log'})" in captured.err and captured.out == ""


def processes_in(folder: Path) -> list[str]:
    """Command lines of live processes whose working folder is ``folder`` or below it."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if cwd == folder or folder in cwd.parents:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.mark.timeout(E2E_TIMEOUT_S)
def test_a_real_run_cancelled_resumed_and_scored_as_evaluate_scores_it(tmp_path):
    shutil.which("relion_refine") or pytest.fail("RELION is needed: apt-get install relion openmpi-bin")
    dataset, job = simulate(tmp_path / "ds", E2E_PARTICLES), tmp_path.resolve() / "job"
    command = [sys.executable, str(ROOT / "main.py"), "run", "relion_multibody", str(dataset), "--job", str(job),
               "--max-iterations", "1", "--cpus", "2"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not (job / "logs" / "consensus.log").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)                                   # mpirun and its ranks are up
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 128 + signal.SIGTERM, err
    assert "cancelled; the finished steps are kept" in err and "the same command resumes" in err
    assert processes_in(job) == [] and out == ""

    t0 = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=E2E_TIMEOUT_S)
    elapsed = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    log = (job / "run.log").read_text()
    assert "mask_lsu: done in an earlier run" in log and "Auto-refine: Iteration=" in log   # resumed; RELION's lines
    assert "Auto-refine" not in done.stdout + done.stderr                                    # ... only in the log
    assert "[4/6] consensus" in done.stderr and "[6/6] flex" in done.stderr                  # the bars
    output = job / "MultiBody" / "analyse_projections_along_eigenvectors_all_particles.txt"
    evaluate = subprocess.run([sys.executable, str(ROOT / "main.py"), "evaluate", str(dataset), str(output),
                               "--kind", "relion_multibody", "--label", "RELION multibody", "--out",
                               str(tmp_path / "report"), "--no-figures"],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert evaluate.returncode == 0, evaluate.stderr
    assert done.stdout == evaluate.stdout.rsplit("wrote ", 1)[0]        # evaluate's print, less its report line
    rows = [line for line in done.stdout.splitlines() if line.startswith("RELION multibody")]
    assert rows[0].split()[2] == "0,1" and rows[1].split()[2] == "all"
    print(f"RELION multibody on {E2E_PARTICLES} particles, resumed after the masks: {elapsed:.0f} s")

    again = subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr                          # every step stamped: nothing runs
    assert (job / "run.log").read_text().count("flex: done in an earlier run") == 1
    as_evaluate = subprocess.run([*evaluate.args[:-3], "--json"], capture_output=True, text=True, cwd=ROOT,
                                 timeout=300)
    assert json.loads(again.stdout) == json.loads(as_evaluate.stdout)
    assert json.loads(again.stdout)["methods"][0]["label"] == "RELION multibody"
