"""Comparison project files: round trip, relative paths, atomic write, refused files named."""
import json
import os

import pytest

from engine.formats.comparison_project import (FORMAT, ComparisonProject, ProjectFileError, ProjectOutput,
                                                ProjectRun, is_project_file, load_project, missing_files,
                                                save_project)


def make_tree(root):
    (root / "runs" / "ds").mkdir(parents=True)
    (root / "runs" / "ds" / "ground_truth.npz").write_bytes(b"x")
    (root / "runs" / "ds_cryodrgn" / "train").mkdir(parents=True)
    (root / "runs" / "ds_cryodrgn" / "train" / "z.25.pkl").write_bytes(b"x")
    (root / "runs" / "pca.npy").write_bytes(b"x")
    (root / "projects").mkdir()
    run = ProjectRun("cryodrgn", root / "runs" / "ds_cryodrgn")
    return ComparisonProject(
        dataset=root / "runs" / "ds",
        outputs=(ProjectOutput(root / "runs" / "ds_cryodrgn" / "train" / "z.25.pkl", "cryoDRGN", "cryodrgn", 8, run),
                 ProjectOutput(root / "runs" / "pca.npy", "PCA (2)", "generic", 2)),
        dims=(0, 2), core_only=True, core_radius_deg=4.5, wells=(3, 1), current=1)


def test_round_trip_with_paths_relative_to_the_project_file(tmp_path):
    project = make_tree(tmp_path)
    path = save_project(tmp_path / "projects" / "study.elbench.json", project)
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["version"] == 1
    assert doc["dataset"] == "../runs/ds"
    assert doc["outputs"][0] == {"path": "../runs/ds_cryodrgn/train/z.25.pkl", "label": "cryoDRGN",
                                 "kind": "cryodrgn", "n_dims": 8,
                                 "run": {"method": "cryodrgn", "job_dir": "../runs/ds_cryodrgn"}}
    assert doc["settings"] == {"dims": [0, 2], "core_only": True, "core_radius_deg": 4.5, "wells": [1, 3]}
    assert [p.name for p in path.parent.iterdir()] == ["study.elbench.json"]  # no temporary left
    again = load_project(path)
    assert again == project
    assert again.outputs[0].path == (tmp_path / "runs" / "ds_cryodrgn" / "train" / "z.25.pkl").resolve()
    assert missing_files(again) == []
    assert is_project_file(path) and not is_project_file(tmp_path / "runs" / "pca.npy")


def test_moved_with_its_data_the_project_still_finds_its_files(tmp_path):
    project = make_tree(tmp_path / "a")
    save_project(tmp_path / "a" / "projects" / "p.json", project)
    os.rename(tmp_path / "a", tmp_path / "b")
    again = load_project(tmp_path / "b" / "projects" / "p.json")
    assert again.dataset == (tmp_path / "b" / "runs" / "ds").resolve()
    assert missing_files(again) == []


def test_missing_outputs_are_listed_not_fatal(tmp_path):
    project = make_tree(tmp_path)
    path = save_project(tmp_path / "projects" / "p.json", project)
    (tmp_path / "runs" / "pca.npy").unlink()
    (tmp_path / "runs" / "ds_cryodrgn" / "train" / "z.25.pkl").unlink()
    (tmp_path / "runs" / "ds_cryodrgn" / "train").rmdir()
    os.rename(tmp_path / "runs" / "ds_cryodrgn", tmp_path / "runs" / "elsewhere")
    again = load_project(path)
    assert len(again.outputs) == 2
    problems = missing_files(again)
    assert len(problems) == 3
    assert problems[0].startswith('output "cryoDRGN": ') and problems[0].endswith("z.25.pkl: no such file or folder")
    assert problems[1].startswith('job folder of "cryoDRGN" (cryodrgn): ')
    assert problems[2].startswith('output "PCA (2)": ')


@pytest.mark.parametrize("text, problem", [
    ("{not json", r"is not valid JSON \(line 1, column 2"),
    ("[1, 2]", "is not an elbench comparison project"),
    (json.dumps({"format": FORMAT, "version": 2, "dataset": "ds"}), "is version 2, written by a newer elbench"),
    (json.dumps({"format": FORMAT, "version": 1, "dataset": "ds", "colour": "red"}), "colour: unknown key"),
    (json.dumps({"format": FORMAT, "version": 1}), "dataset: must be a path"),
    (json.dumps({"format": FORMAT, "version": 1, "dataset": "ds",
                 "outputs": [{"path": "a.npy", "label": "A", "kind": "bogus"}]}), r"outputs\[0\]: kind: must be one of"),
    (json.dumps({"format": FORMAT, "version": 1, "dataset": "ds",
                 "outputs": [{"path": "a.npy", "kind": "generic"}]}), r"outputs\[0\]: label: missing"),
    (json.dumps({"format": FORMAT, "version": 1, "dataset": "ds", "settings": {"dims": [0, 0]}}),
     "settings.dims: must be distinct"),
    (json.dumps({"format": FORMAT, "version": 1, "dataset": "ds", "current": 3}), "current: must be -1 or a position"),
])
def test_malformed_project_files_are_refused_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.elbench.json"
    path.write_text(text)
    with pytest.raises(ProjectFileError, match=rf"bad\.elbench\.json: {problem}"):
        load_project(path)


def test_missing_or_unreadable_project_file(tmp_path):
    with pytest.raises(ProjectFileError, match=r"nope\.json: no such file"):
        load_project(tmp_path / "nope.json")
    with pytest.raises(ProjectFileError, match=r"folder: is a folder, not a regular file"):
        (tmp_path / "folder").mkdir()
        load_project(tmp_path / "folder")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectFileError, match=r"bin\.json: is not a text file"):
        load_project(tmp_path / "bin.json")


def test_unwritable_place_is_named(tmp_path):
    project = make_tree(tmp_path)
    with pytest.raises(ProjectFileError, match=r"no_dir[/\\]p\.json: cannot be written"):
        save_project(tmp_path / "no_dir" / "p.json", project)
