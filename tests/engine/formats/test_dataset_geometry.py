"""What a dataset folder says about its making: geometry, noise, optics and the object, read back."""
import json
import shutil

import numpy as np
import pytest

from engine.formats.dataset_geometry import DatasetGeometryError, dataset_object, read_dataset_geometry
from engine.landscape.presets import load_preset
from engine.methods.relion_inputs import RelionInputError, read_geometry
from engine.simulation.context import get_context
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.structure.maps import write_map

PLAN = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=40, box_size=32, snr=10, voltage_kV=200.0,
                      cs_mm=2.0, amplitude_contrast=0.07, bfactor_A2=50.0, write_cryosparc=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geometry") / "ds"
    assert run_simulation(PLAN, folder, workers=1).status == "complete"
    return folder


def test_geometry_noise_and_optics_are_the_plans(dataset):
    geo = read_dataset_geometry(dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    obj = get_context(PLAN).object
    assert (geo.box_size, geo.n_particles, geo.status, geo.snr) == (32, 40, "complete", 10.0)
    assert geo.apix_A == obj.apix_A and geo.box_width_A == pytest.approx(32 * obj.apix_A)
    assert np.array_equal(geo.pivot_A, obj.pivot_A) and np.array_equal(geo.axis1, obj.axis1)
    assert geo.noise_sigma == manifest["noise"]["sigma"] > 0
    assert (geo.optics.voltage_kV, geo.optics.cs_mm, geo.optics.amplitude_contrast, geo.optics.bfactor_A2) == \
        (200.0, 2.0, 0.07, 50.0)
    assert geo.defocus_range_A == (PLAN.defocus_min_A, PLAN.defocus_max_A)
    assert read_geometry(dataset) == geo  # the RELION inputs read the same, through this module


def test_the_object_from_the_maps_is_the_one_the_images_were_made_from(dataset):
    made, read = get_context(PLAN).object, dataset_object(dataset)
    for name in ("lsu", "ssu", "ssu_mask"):
        assert np.array_equal(getattr(made, name), getattr(read, name)), name
    assert np.array_equal(made.pivot_A, read.pivot_A) and read.apix_A == made.apix_A and read.name == made.name


def test_a_folder_not_made_by_elbench_has_no_geometry(dataset, tmp_path):
    with pytest.raises(DatasetGeometryError, match=r"manifest\.json: no such file .*not a dataset made by elbench"):
        read_dataset_geometry(tmp_path)
    with pytest.raises(RelionInputError, match=r"manifest\.json: no such file"):
        read_geometry(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(DatasetGeometryError, match="not a dataset made by elbench"):
        read_dataset_geometry(tmp_path)


def test_a_dataset_without_its_maps_is_refused_naming_the_map(dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns("maps"))
    with pytest.raises(DatasetGeometryError, match=r"maps/lsu\.mrc"):
        read_dataset_geometry(copy)
    shutil.copytree(dataset / "maps", copy / "maps")
    (copy / "maps" / "ssu_mask.mrc").unlink()
    read_dataset_geometry(copy)  # the geometry needs only the LSU's header
    with pytest.raises(DatasetGeometryError, match=r"maps/ssu_mask\.mrc"):
        dataset_object(copy)


def test_maps_that_disagree_with_the_manifest_are_refused(dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    write_map(copy / "maps" / "lsu.mrc", np.ones((16, 16, 16), np.float32), 5.0)
    with pytest.raises(DatasetGeometryError, match=r"lsu\.mrc: box 16 px at 5 A/px, but .*manifest\.json says 32"):
        read_dataset_geometry(copy)
    manifest = json.loads((dataset / "manifest.json").read_text())
    del manifest["noise"]["sigma"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetGeometryError, match=r"manifest\.json: cannot read .*sigma"):
        read_dataset_geometry(copy)
