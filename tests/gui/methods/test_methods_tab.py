"""Methods tab, driven like a user: the form has every option of each method, edits rebuild the
command lines, bad values and missing tools disable Start, and cryoDRGN runs for real through
the tab (progress, log, scored in the comparison) and is cancelled for real (no process left)."""
import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QLineEdit

from engine.landscape.presets import load_preset
from engine.methods.catalog import METHODS
from engine.methods.cryodrgn import check_cryodrgn, cryodrgn_steps
from engine.methods.process import StepResult, write_stamp
from engine.methods.progress import StepProgress
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from gui.comparison.comparison_model import ComparisonModel
from gui.main_window import MainWindow
from gui.methods.methods_tab import MethodsTab
from gui.methods.run_log import LOG_LINES, RunLog, format_eta
from gui.model.document import LandscapeDocument

PREVIEW_TIMEOUT_MS = 60_000      # a tool check imports nothing heavy, but the machine is shared
RUN_TIMEOUT_MS = 240_000         # cryoDRGN imports torch (tens of seconds on a loaded 2-core machine)
TINY = {"zdim": 2, "epochs": 1, "enc_dim": 16, "enc_layers": 1, "dec_dim": 16, "dec_layers": 1,
        "batch_size": 8, "log_interval_images": 8, "analyze": False}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("methods_tab") / "ds"
    run_simulation(SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=64, box_size=32,
                                  chunk_size=64), folder, workers=1)
    return folder.resolve()


@pytest.fixture
def tab(qtbot, dataset):
    model = ComparisonModel()
    model.open_dataset(dataset)
    assert model.wait_idle()
    widget = MethodsTab(LandscapeDocument(), model)
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    yield widget
    widget.shutdown()
    model.shutdown()


def choose(tab, qtbot, name: str) -> None:
    tab.method_combo.setCurrentIndex(tab.method_combo.findData(name))
    settle(tab, qtbot)


def settle(tab, qtbot) -> None:
    """Wait for the preview of the edits just made (the tab coalesces them)."""
    assert tab.wait_preview(PREVIEW_TIMEOUT_MS)


def type_into(qtbot, spin, value) -> None:
    """Select the spin box's text and type ``value`` and Return, as a user does."""
    spin.setFocus()
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin.lineEdit(), str(value))
    QTest.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_the_form_has_every_option_of_each_method_with_its_default(tab, qtbot):
    assert [tab.method_combo.itemText(i) for i in range(tab.method_combo.count())] == [
        m.title for m in METHODS.values()]
    for name, method in METHODS.items():
        choose(tab, qtbot, name)
        form = tab.options_form()
        assert tab.option_stack.currentWidget() is form
        assert list(form.editors) == [f.name for f in method.option_fields()]
        assert method.options(**form.values()) == method.options()          # the dataclass defaults
        assert all(editor.toolTip() for editor in form.editors.values())
    form = tab.forms["cryodrgn"]
    assert "latent dimensions" in form.editors["zdim"].toolTip()
    lazy = form.editors["lazy"]
    assert isinstance(lazy, QCheckBox) and lazy.checkState() == Qt.CheckState.PartiallyChecked   # None: auto
    assert tab.forms["relion_multibody"].editors["cpus"].text() == "auto"
    assert isinstance(tab.forms["recovar"].editors["mask"], QLineEdit)


def test_changing_an_option_rebuilds_the_command_lines(tab, qtbot, dataset):
    choose(tab, qtbot, "cryodrgn")
    settle(tab, qtbot)
    text = tab.commands_view.toPlainText()
    assert tab.commands_view.isReadOnly()
    assert f"cd {dataset.with_name('ds_cryodrgn')} && " in text and "-n 25" in text
    assert tab.job_edit.text() == str(dataset.with_name("ds_cryodrgn"))
    t0 = time.monotonic()
    type_into(qtbot, tab.options_form().editors["epochs"], 3)
    qtbot.waitUntil(lambda: "-n 3 " in tab.commands_view.toPlainText(), timeout=PREVIEW_TIMEOUT_MS)
    print(f"command lines updated {time.monotonic() - t0:.2f} s after the edit")
    assert "analyze" in tab.commands_view.toPlainText()
    tab.job_edit.setText(str(dataset.with_name("my_job")))
    qtbot.waitUntil(lambda: f"cd {dataset.with_name('my_job')}" in tab.commands_view.toPlainText(),
                    timeout=PREVIEW_TIMEOUT_MS)
    choose(tab, qtbot, "recovar")                       # a typed job folder stays
    assert tab.job_edit.text() == str(dataset.with_name("my_job"))


def test_an_invalid_value_shows_the_error_and_disables_start(tab, qtbot):
    choose(tab, qtbot, "cryodrgn")
    settle(tab, qtbot)
    assert tab.start_button.isEnabled()
    type_into(qtbot, tab.options_form().editors["zdim"], 0)
    qtbot.waitUntil(lambda: not tab.start_button.isEnabled())
    assert tab.options_error.isVisible() and "zdim must be a positive integer" in tab.options_error.text()
    type_into(qtbot, tab.options_form().editors["zdim"], 4)
    settle(tab, qtbot)
    assert tab.start_button.isEnabled() and not tab.options_error.isVisible()


def test_a_missing_tool_shows_how_to_install_it_and_disables_start(tab, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # no RELION on this PATH
    choose(tab, qtbot, "relion_multibody")
    settle(tab, qtbot)
    assert "relion" in tab.tool_label.text() and "cannot run" in tab.tool_label.text()
    assert "Install it: " in tab.tool_label.text()
    assert not tab.start_button.isEnabled()
    tab.place.where_combo.setCurrentText("SLURM")      # the SLURM client is checked too
    settle(tab, qtbot)
    assert "sbatch cannot run" in tab.tool_label.text() and "slurm-client" in tab.tool_label.text()


def test_slurm_resources_reach_the_command_lines_and_a_bad_template_disables_start(tab, qtbot, tmp_path):
    choose(tab, qtbot, "relion_multibody")
    assert "mpirun -n " in tab.commands_view.toPlainText()
    tab.place.where_combo.setCurrentText("SLURM")
    assert tab.place.cpus_spin.isVisibleTo(tab) and tab.place.partition_edit.isVisibleTo(tab)
    type_into(qtbot, tab.place.cpus_spin, 5)
    settle(tab, qtbot)
    assert "mpirun -n 5 relion_refine_mpi" in tab.commands_view.toPlainText()    # 1 leader + 2 x 2 followers
    # the SLURM client is checked too (here without a cluster's slurm.conf it cannot run)
    slurm_ok = "sbatch cannot run" not in tab.tool_label.text()
    assert "sbatch" in tab.tool_label.text() and tab.start_button.isEnabled() == slurm_ok
    tab.place.template_edit.setText(str(tmp_path / "missing.sbatch"))
    settle(tab, qtbot)
    assert not tab.start_button.isEnabled()
    assert tab.place_error.isVisibleTo(tab) and "missing.sbatch: no such file" in tab.place_error.text()
    tab.place.where_combo.setCurrentText("Local")
    settle(tab, qtbot)
    assert not tab.place.cpus_spin.isVisibleTo(tab) and tab.start_button.isEnabled()


def test_the_log_keeps_its_last_lines_and_the_progress_line_names_step_fraction_and_eta(qtbot):
    view = RunLog()
    qtbot.addWidget(view)
    for k in range(LOG_LINES + 10):
        view.append(f"line {k}")
    assert view.log_view.blockCount() == LOG_LINES
    assert view.log_view.toPlainText().splitlines()[0] == "line 10"
    view.show_progress(StepProgress("train", 0.5, 125.0, 125.0, index=0, count=2))
    assert view.progress_bar.value() == view.progress_bar.maximum() // 4           # half of step 1 of 2
    assert view.progress_label.text() == "train, step 1 of 2 · running · 50 % · ETA 2:05"
    assert format_eta(3725) == "ETA 1:02:05" and format_eta(None) == ""


def cryodrgn_processes(job: Path) -> list[int]:
    """Live processes whose command line names the job folder (cryoDRGN and its workers)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(job) in cmdline and state != "Z":
                pids.append(int(entry.name))
    return pids


def set_options(tab, qtbot, **values) -> None:
    form = tab.options_form()
    for name, value in values.items():
        form.set_value(name, value)
    settle(tab, qtbot)


@pytest.mark.timeout(1900)  # the session may install cryoDRGN first (tests/conftest.py)
def test_a_real_cryodrgn_run_is_shown_and_scored(cryodrgn_installed, tab, qtbot, tmp_path):
    model = tab.comparison
    choose(tab, qtbot, "cryodrgn")
    set_options(tab, qtbot, **TINY)
    job = tmp_path / "run1"
    tab.job_edit.setText(str(job))
    settle(tab, qtbot)
    assert tab.start_button.isEnabled(), tab.tool_label.text()
    fractions = []
    tab.runner.sigProgress.connect(lambda p: fractions.append(p.overall_fraction))
    t0 = time.monotonic()
    with qtbot.waitSignal(tab.sigRunFinished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
        assert tab.cancel_button.isEnabled() and not tab.start_button.isEnabled()
    print(f"cryoDRGN run through the tab: {time.monotonic() - t0:.1f} s")
    run = finished.args[0]
    assert run.status == "complete" and run.output_path == job / "train" / "z.1.pkl"
    assert any(0 < f < 1 for f in fractions) and tab.run_log.progress_bar.value() == tab.run_log.progress_bar.maximum()
    log = tab.run_log.log_view.toPlainText()
    assert "cryodrgn train_vae" in log and "[Train Epoch: 1/1]" in log and "complete:" in log
    assert model.wait_idle()
    entry = model.methods[-1]
    assert entry.label == "cryoDRGN (run1)" and entry.kind == "cryodrgn"
    assert entry.scores is not None and 0 <= entry.scores.accuracy <= 100
    assert tab.start_button.isEnabled() and not tab.cancel_button.isEnabled()
    tab.grab().save("/tmp/methods_tab_finished.png")


@pytest.mark.timeout(1900)  # the session may install cryoDRGN first (tests/conftest.py)
def test_cancel_during_training_ends_the_job_and_its_processes(cryodrgn_installed, tab, qtbot, tmp_path,
                                                               message_boxes):
    choose(tab, qtbot, "cryodrgn")
    set_options(tab, qtbot, **{**TINY, "epochs": 200})
    job = tmp_path / "run2"
    tab.job_edit.setText(str(job))
    settle(tab, qtbot)
    cancelled = []
    tab.runner.sigCancelled.connect(cancelled.append)
    assert tab.start()
    qtbot.waitUntil(lambda: "[Train Epoch:" in tab.run_log.log_view.toPlainText(), timeout=RUN_TIMEOUT_MS)
    assert cryodrgn_processes(job)
    t0 = time.monotonic()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(cancelled), timeout=60_000)
    print(f"cancelled in {time.monotonic() - t0:.1f} s")
    assert cancelled[0].status == "cancelled"
    assert cryodrgn_processes(job) == []
    assert tab.run_log.progress_label.text().startswith("Cancelled") and "cancelling:" in tab.run_log.log_view.toPlainText()
    assert not message_boxes.warnings and tab.start_button.isEnabled()
    assert all(m.label != "cryoDRGN (run2)" for m in tab.comparison.methods)


@pytest.mark.timeout(1900)  # the session may install cryoDRGN first (tests/conftest.py)
def test_a_failed_step_quotes_the_tools_last_lines_in_the_log_and_a_message_box(cryodrgn_installed, tab, qtbot,
                                                                                tmp_path, message_boxes, dataset):
    """A real failure, cheaply: the training is stamped as done (the job folder's resume
    record) but wrote nothing, so the real ``cryodrgn analyze`` finds no model and fails."""
    choose(tab, qtbot, "cryodrgn")
    set_options(tab, qtbot, **{**TINY, "analyze": True})
    job = tmp_path / "run3"
    tab.job_edit.setText(str(job))
    settle(tab, qtbot)
    train = cryodrgn_steps(dataset, job.resolve(), tab.options(), str(check_cryodrgn().path))[0]
    (job / "train").mkdir(parents=True)
    write_stamp(job.resolve(), train, StepResult("train", "complete", "local", 0.0))
    errors = []
    tab.runner.sigErrored.connect(errors.append)
    t0 = time.monotonic()
    assert tab.start()
    qtbot.waitUntil(lambda: bool(errors), timeout=RUN_TIMEOUT_MS)
    print(f"failed run through the tab: {time.monotonic() - t0:.1f} s")
    assert "StepError: step 'analyze' failed" in errors[0] and "last lines of" in errors[0]
    log = tab.run_log.log_view.toPlainText()
    assert "train: done in an earlier run" in log and "error: StepError: step 'analyze' failed" in log
    assert message_boxes.warnings == [errors[0]] and tab.run_log.progress_label.text() == "Failed"
    assert tab.start_button.isEnabled() and not tab.cancel_button.isEnabled()


def test_the_main_window_shows_the_tab_after_the_comparison_on_its_model(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())][-2:] == ["Comparison", "Methods"]
    assert window.methods.comparison is window.comparison.model
    window.methods.sigStatusMessage.emit("Running cryoDRGN")
    assert window.statusBar().currentMessage() == "Running cryoDRGN"
    assert window.methods.work_that_quitting_loses() == []     # nothing running: the quit question is not asked
