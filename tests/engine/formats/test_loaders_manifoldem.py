"""ManifoldEM: raw int64 occupancy maps (S2_OM) and per-particle coordinate tables."""
import numpy as np
import pytest

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.landscape.model import kT_kcal
from engine.formats.loaders import LoaderError, detect_kind, load_occupancy_map, load_output
from engine.landscape.presets import load_preset


def write_om(path, counts):
    """What ManifoldEM's ComputeEnergy1D does: ``hUn.astype('int').tofile(OM_file)``."""
    np.asarray(counts).astype("int").tofile(path)
    return path


def test_1d_occupancy_map_round_trips_and_gives_manifoldems_energy(tmp_path):
    counts = np.array([0, 3, 40, 120, 300, 120, 40, 3, 0, 5] * 5)  # 50 bins, ManifoldEM's nClass
    path = write_om(tmp_path / "S2_OM", counts)
    assert detect_kind(path) == "manifoldem_occupancy"
    om = load_occupancy_map(path)
    np.testing.assert_array_equal(om.counts, counts)
    assert om.counts.shape == (50,) and om.n_counted == counts.sum()
    kT = kT_kcal(298.15)
    g = om.free_energy(kT)
    # ManifoldEM: E = -kT ln(max(count, 1)), shifted to 0 at the minimum; same on filled bins
    e = -kT * np.log(np.fmax(counts, 1))
    e -= e.min()
    filled = counts > 0
    np.testing.assert_allclose(g[filled], e[filled])
    assert np.isnan(g[~filled]).all() and g[4] == 0


def test_2d_map_shape_inferred_or_given(tmp_path):
    counts = np.arange(1, 401).reshape(20, 20)
    om = load_occupancy_map(write_om(tmp_path / "S2_OM", counts))
    np.testing.assert_array_equal(om.counts, counts)
    rect = load_occupancy_map(write_om(tmp_path / "S2_OM_rect", np.arange(1, 61)), shape=(6, 10))
    assert rect.counts.shape == (6, 10) and rect.counts[1, 0] == 11
    with pytest.raises(LoaderError, match=r"S2_OM_rect: 60 values cannot have shape \(7, 10\)"):
        load_occupancy_map(tmp_path / "S2_OM_rect", shape=(7, 10))


def test_refused_occupancy_maps_name_the_file(tmp_path):
    cut = tmp_path / "S2_OM_cut"
    cut.write_bytes(write_om(tmp_path / "S2_OM", np.arange(50)).read_bytes()[:-3])
    with pytest.raises(LoaderError, match=r"S2_OM_cut: 397 bytes is not a whole number of int64 values"):
        load_occupancy_map(cut)
    energy = tmp_path / "S2_EL"
    (np.linspace(0, 3.0, 50)).astype("float").tofile(energy)
    with pytest.raises(LoaderError, match="S2_EL: values are not particle counts.*S2_EL rather than S2_OM"):
        load_occupancy_map(energy)
    empty = tmp_path / "S2_OM_empty"
    empty.write_bytes(b"")
    with pytest.raises(LoaderError, match="S2_OM_empty: the file is empty"):
        load_occupancy_map(empty)
    zeros = write_om(tmp_path / "S2_OM_zero", np.zeros(50))
    with pytest.raises(LoaderError, match="S2_OM_zero: every bin is empty"):
        load_occupancy_map(zeros)


def test_occupancy_map_cannot_be_scored_per_particle(tmp_path):
    ds = Dataset(synthetic_ground_truth(load_preset("paper-3x4"), 50, seed=1))
    path = write_om(tmp_path / "S2_OM", np.arange(1, 51))
    with pytest.raises(LoaderError, match="S2_OM: is a ManifoldEM occupancy map.*cannot be scored per particle"):
        load_output(path, ds)
    with pytest.raises(LoaderError, match="no per-particle coordinates"):
        load_output(path, ds, kind="manifoldem")


def test_per_particle_manifoldem_coordinates(tmp_path):
    ds = Dataset(synthetic_ground_truth(load_preset("paper-3x4"), 300, seed=2))
    keep = np.sort(np.random.default_rng(0).choice(300, 120, replace=False))
    lines = ["image_name,psi1,psi2"] + [f"{ds.image_names[i]},{i / 10},{-i / 10}" for i in keep]
    path = tmp_path / "manifoldem_coords.csv"
    path.write_text("\n".join(lines) + "\n")
    out = load_output(path, ds, kind="manifoldem")
    assert out.kind == "manifoldem" and out.dim_names == ("psi1", "psi2")
    np.testing.assert_array_equal(out.particle_index, keep)
    np.testing.assert_allclose(out.coords[:, 0], keep / 10)
    assert out.n_dropped == 180
