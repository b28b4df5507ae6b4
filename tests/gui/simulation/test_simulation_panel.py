"""The Simulation tab: fields follow the landscape, the event loop keeps turning while a run
goes on in the background, cancel leaves a resumable folder, Resume finishes it."""
import time

import numpy as np
from PySide6.QtCore import QTimer

from engine.simulation.manifest import read_manifest
from engine.landscape.presets import load_preset
from engine.simulation.plan import estimate_disk_bytes, format_bytes
from gui.model.document import LandscapeDocument
from gui.widgets.jobs import JobRunner
from gui.simulation.simulation_panel import SimulationPanel


def make_panel(qtbot, folder=None):
    doc = LandscapeDocument(load_preset("paper-3x4"))
    panel = SimulationPanel(doc)
    qtbot.addWidget(panel)
    panel.box_spin.setValue(32)
    panel.chunk_spin.setValue(200)
    panel.workers_spin.setValue(1)
    if folder is not None:
        panel.output_edit.setText(str(folder))
    return doc, panel


def test_fields_follow_the_landscape_and_the_estimate_updates(qtbot):
    doc, panel = make_panel(qtbot)
    assert "paper-3x4" in panel.landscape_label.text() and "12 wells" in panel.landscape_label.text()
    panel.n_spin.setValue(3_000_000)
    panel.box_spin.setValue(64)
    assert format_bytes(estimate_disk_bytes(panel.plan())) == "51.6 GB"  # 49.2 GB of stacks
    assert "51.6 GB on disk" in panel.estimate_label.text() and "min" in panel.estimate_label.text()
    doc.reset(load_preset("ratchet-valley"))
    assert "ratchet-valley" in panel.landscape_label.text()
    assert panel.plan().landscape == load_preset("ratchet-valley")
    assert panel.plan().n_particles == 3_000_000 and panel.plan().snr == 1.0
    panel.snr_spin.setValue(0.0)
    assert panel.plan().snr is None  # "no noise"
    panel.box_spin.setValue(30)
    panel.box_spin.setValue(17)       # odd box: the estimate names the bad field
    assert "box_size" in panel.estimate_label.text()


def test_event_loop_turns_while_the_job_runs_and_it_finishes(qtbot, tmp_path):
    _, panel = make_panel(qtbot, tmp_path / "ds")
    panel.n_spin.setValue(4000)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    with qtbot.waitSignal(panel.sigRunFinished, timeout=120_000) as finished:
        assert panel.start()
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    timer.stop()
    result = finished.args[0]
    assert result.status == "complete"
    assert len(ticks) > 20 and np.max(np.diff(ticks)) < 0.5  # never blocked for long
    assert panel.progress_bar.value() == 1000 and "images/s" in panel.progress_label.text()
    assert panel.thumbnails[0].pixmap() is not None and not panel.thumbnails[0].pixmap().isNull()
    assert "complete" in panel.log_view.toPlainText()
    assert read_manifest(tmp_path / "ds")["status"] == "complete"
    assert panel.start_button.isEnabled() and not panel.resume_button.isEnabled()


def test_cancel_leaves_a_resumable_folder_and_resume_finishes(qtbot, tmp_path):
    folder = tmp_path / "ds"
    _, panel = make_panel(qtbot, folder)
    panel.n_spin.setValue(20_000)
    panel.chunk_spin.setValue(500)
    progressed = []
    panel.runner.sigProgress.connect(progressed.append)
    with qtbot.waitSignal(panel.sigRunFinished, timeout=120_000) as stopped:
        panel.start()
        qtbot.waitUntil(lambda: any(p.chunks_done >= 1 for p in progressed), timeout=60_000)
        panel.cancel()
    assert stopped.args[0].status == "cancelled"
    manifest = read_manifest(folder)
    assert manifest["status"] == "cancelled"
    done = sum(c["status"] == "done" for c in manifest["chunks"])
    assert 1 <= done < 40 and not list(folder.rglob("*.tmp"))
    assert panel.resume_button.isEnabled() and "Cancelled" in panel.progress_label.text()
    panel.n_spin.setValue(7)  # Resume uses the manifest's plan, not the fields
    panel.workers_spin.setValue(2)  # a process pool started from the job's thread
    with qtbot.waitSignal(panel.sigRunFinished, timeout=180_000) as resumed:
        assert panel.resume()
    assert resumed.args[0].status == "complete" and resumed.args[0].particles_total == 20_000
    assert panel.n_spin.value() == 20_000


def test_job_runner_cancels_the_old_job_when_a_new_one_starts(qtbot):
    runner = JobRunner()
    seen = {"finished": [], "cancelled": []}
    runner.sigFinished.connect(seen["finished"].append)
    runner.sigCancelled.connect(seen["cancelled"].append)

    def slow(tag, progress, should_stop, log):
        for i in range(500):
            if should_stop():
                return f"{tag} stopped at {i}"
            progress(i)
            time.sleep(0.01)
        return f"{tag} done"

    def quick(tag, progress, should_stop, log):
        log("hello")
        return f"{tag} done"

    first = runner.start(slow, "first")
    qtbot.waitUntil(lambda: first.state == "running", timeout=5000)
    with qtbot.waitSignal(runner.sigFinished, timeout=10_000):
        runner.start(quick, "second")
    assert runner.wait(10_000)
    assert first.state == "cancelled" and seen["finished"] == ["second done"]
    assert seen["cancelled"] == []  # the replaced job's late signals are dropped

    def quiet_end(progress, should_stop, log):
        for i in range(200):
            progress(i)
        progress("writing files")      # the last report before a long quiet step
        time.sleep(1.0)
        return "ok"

    received = []
    runner.sigProgress.connect(received.append)
    job = runner.start(quiet_end)
    qtbot.waitUntil(lambda: "writing files" in received, timeout=800)
    assert job.state == "running" and len(received) < 50  # throttled, yet the last one arrived
    with qtbot.waitSignal(runner.sigFinished, timeout=5000):
        pass

    def broken(progress, should_stop, log):
        raise ValueError("bad plan field")

    with qtbot.waitSignal(runner.sigErrored, timeout=5000) as errored:
        runner.start(broken)
    assert errored.args[0] == "ValueError: bad plan field"
    assert runner.shutdown(5000)


def _write_maps(folder):
    from engine.structure.maps import write_map
    from engine.structure.object_model import build_ribosome_like

    obj = build_ribosome_like(box_size=32)
    write_map(folder / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(folder / "ssu.mrc", obj.ssu, obj.apix_A)
    return obj


def test_the_plan_follows_the_documents_object(qtbot, tmp_path):
    """Maps that become the document's object (as the Structure tab makes them once loaded)
    become the plan's object: file paths from the request, pivot and axes from the loaded
    object, box from the map header; the built-in object switches the plan back, and undo
    takes the plan back with the document."""
    from gui.model.object_state import KIND_MAPS, CurrentObject, MapsRequest

    obj = _write_maps(tmp_path)
    doc, panel = make_panel(qtbot)
    panel.box_spin.setValue(64)
    request = MapsRequest(KIND_MAPS, str(tmp_path / "lsu.mrc"), str(tmp_path / "ssu.mrc"),
                          pivot_A=tuple(obj.pivot_A), axis1=tuple(obj.axis1), axis2=tuple(obj.axis2))
    doc.set_current_object(CurrentObject.from_loaded_maps(request, request.load(max_box=None)))
    spec = panel.plan().object
    assert (spec.kind, spec.lsu_map, spec.ssu_map) == ("two-maps", str(tmp_path / "lsu.mrc"), str(tmp_path / "ssu.mrc"))
    np.testing.assert_allclose(spec.pivot_A, obj.pivot_A, atol=1e-6)
    np.testing.assert_allclose(spec.axis1, obj.axis1, atol=1e-9)
    assert panel.plan().effective_box_size() == 32 and panel.box_spin.value() == 32
    assert panel.plan().effective_apix_A() == np.float32(obj.apix_A)
    assert "lsu.mrc + ssu.mrc" in panel.object_label.text() and "Structure tab" in panel.object_label.text()
    doc.set_current_object(CurrentObject.builtin(seed=3))
    assert panel.plan().object.kind == "ribosome-like" and panel.plan().object.seed == 3
    assert "built-in" in panel.object_label.text()
    doc.undo_stack.undo()
    assert panel.plan().object == spec
    doc.undo_stack.undo()
    assert panel.plan().object.kind == "ribosome-like" and panel.plan().object.seed == 0


def test_an_object_in_memory_keeps_the_plans_object(qtbot):
    from engine.structure.object_model import build_ribosome_like
    from gui.model.object_state import CurrentObject

    doc, panel = make_panel(qtbot)
    doc.set_current_object(CurrentObject.builtin(seed=2))
    doc.set_current_object(CurrentObject.given(build_ribosome_like(box_size=32, seed=7)))
    assert panel.plan().object.seed == 2
    assert "names no map files" in panel.log_view.toPlainText()


def test_a_loaded_plans_object_becomes_the_documents(qtbot, tmp_path):
    """Load plan puts the plan's object into the document (where the Structure tab shows it),
    as one undo step; its fields stay as the plan has them."""
    from dataclasses import replace

    from engine.simulation.plan import ObjectSpec, SimulationPlan, save_plan

    obj = _write_maps(tmp_path)
    spec = ObjectSpec(kind="two-maps", lsu_map=str(tmp_path / "lsu.mrc"), ssu_map=str(tmp_path / "ssu.mrc"),
                      pivot_A=tuple(obj.pivot_A), axis1=tuple(obj.axis1), axis2=tuple(obj.axis2))
    doc, panel = make_panel(qtbot)
    plan = replace(SimulationPlan(landscape=doc.landscape, object=spec), box_size=None, apix_A=2.5)
    save_plan(plan, tmp_path / "plan.json")
    seen = []
    doc.sigObjectChanged.connect(seen.append)
    assert panel.load_plan(tmp_path / "plan.json")
    assert doc.current_object.spec() == spec and seen == [doc.current_object]
    assert panel.plan().object == spec and panel.apix_spin.value() == 2.5
    assert doc.undo_stack.count() == 1 and not doc.is_dirty
    assert panel.load_plan(tmp_path / "plan.json") and doc.undo_stack.count() == 1  # already the object
