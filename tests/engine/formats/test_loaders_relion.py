"""RELION multibody projections loader, on the real relion_flex_analyse output and variants."""
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import Dataset, ground_truth_from_arrays, load_dataset
from engine.formats.loaders import LoaderError, detect_kind, load_output

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "relion"
PROJECTIONS = FIXTURES / "analyse_projections_along_eigenvectors_all_particles.first300.txt"


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(FIXTURES / "ground_truth.first300.npz")


def test_real_projections_file(dataset):
    assert detect_kind(PROJECTIONS) == "relion_multibody"
    out = load_output(PROJECTIONS, dataset)
    assert out.coords.shape == (300, 12) and out.n_dropped == 0
    assert out.dim_names[0] == "component 1" and out.dim_names[-1] == "component 12"
    np.testing.assert_array_equal(out.particle_index, np.arange(300))
    first = PROJECTIONS.read_text().splitlines()[0].split()
    np.testing.assert_allclose(out.coords[0], [float(v) for v in first[1:]])
    np.testing.assert_allclose(out.coords[1, :2], [1.80901, -12.9835])


def test_reordered_and_partial_file_is_matched_by_image_name(tmp_path, dataset):
    lines = PROJECTIONS.read_text().splitlines(keepends=True)
    order = np.random.default_rng(0).permutation(300)[:250]
    reordered = tmp_path / "run_projections_along_eigenvectors_all_particles.txt"
    reordered.write_text("".join(lines[i] for i in order))
    out = load_output(reordered, dataset)
    np.testing.assert_array_equal(out.particle_index, order)
    full = load_output(PROJECTIONS, dataset)
    np.testing.assert_array_equal(out.coords, full.coords[order])
    assert out.n_dropped == 50 and any("250 particles" in n for n in out.notes)


def test_relion_project_folder_names_are_matched_by_stack_file(tmp_path):
    """RELION's names keep its own directory ("Extract/job004/..."); ours differ only in it."""
    n = 4
    ours = [f"{i + 1:06d}@particles/particles_00000.mrcs" for i in range(n)]
    ds = Dataset(ground_truth_from_arrays(np.array([1, 2, 1, 2]), image_name=ours))
    path = tmp_path / "a_projections_along_eigenvectors_all_particles.txt"
    path.write_text("".join(f"{i + 1:06d}@Extract/job004/particles_00000.mrcs {i}.5 {-i} \n" for i in (3, 1, 0, 2)))
    out = load_output(path, ds)
    np.testing.assert_array_equal(out.particle_index, [3, 1, 0, 2])
    np.testing.assert_array_equal(out.coords[:, 0], [3.5, 1.5, 0.5, 2.5])


def test_a_folder_holding_one_projections_file(tmp_path, dataset):
    (tmp_path / PROJECTIONS.name).write_bytes(PROJECTIONS.read_bytes())
    assert detect_kind(tmp_path) == "relion_multibody"
    assert load_output(tmp_path, dataset).coords.shape == (300, 12)


def test_refused_inputs_name_the_file_and_problem(tmp_path, dataset):
    lines = PROJECTIONS.read_text().splitlines(keepends=True)
    truncated = tmp_path / "cut_projections_along_eigenvectors_all_particles.txt"
    truncated.write_text("".join(lines[:120]) + lines[120][:70])
    with pytest.raises(LoaderError, match=r"cut_proj.*: does not end with a line break, so its last line "
                                          r"\('.*3.60594'\) was cut short: the file is truncated"):
        load_output(truncated, dataset)
    truncated.write_text("".join(lines[:120]) + lines[120][:70] + "\n")
    with pytest.raises(LoaderError, match=r"cut_proj.*: line 121 has \d+ values, the others 12"):
        load_output(truncated, dataset)
    garbled = tmp_path / "bad_projections_along_eigenvectors_all_particles.txt"
    garbled.write_text("".join(lines[:5]) + lines[5].replace("-", "x", 1) + "".join(lines[6:]))
    with pytest.raises(LoaderError, match=r"bad_proj.*: line 6, column \d+: .* is not a number"):
        load_output(garbled, dataset)
    empty = tmp_path / "empty_projections_along_eigenvectors_all_particles.txt"
    empty.write_text("")
    with pytest.raises(LoaderError, match="empty_proj.*: the file is empty"):
        load_output(empty, dataset)
    no_names = tmp_path / "nonames_projections_along_eigenvectors_all_particles.txt"
    no_names.write_text("1.0 2.0\n3.0 4.0\n")
    with pytest.raises(LoaderError, match="nonames_proj.*expected an rlnImageName"):
        load_output(no_names, dataset)
    other = tmp_path / "other_projections_along_eigenvectors_all_particles.txt"
    other.write_text(lines[0].replace("particles.mrcs", "elsewhere.mrcs") + "".join(lines[1:]))
    with pytest.raises(LoaderError, match=r"other_proj.*1 row\(s\) name no particle of the dataset.*elsewhere"):
        load_output(other, dataset)
    twice = tmp_path / "twice_projections_along_eigenvectors_all_particles.txt"
    twice.write_text(lines[0] + "".join(lines))
    with pytest.raises(LoaderError, match=r"twice_proj.*'000001@particles.mrcs' appears in 2 rows"):
        load_output(twice, dataset)
