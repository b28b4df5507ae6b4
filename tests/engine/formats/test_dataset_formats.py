"""A simulated dataset read back with the libraries users use: mrcfile, starfile, cryoDRGN's
pickle layout, numpy / cryosparc-tools for .cs; and the images checked against the metadata."""
import pickle

import mrcfile
import numpy as np
import pytest
import starfile
from scipy.spatial.transform import Rotation

from engine.imaging.ctf import CTFParams, ctf_2d
from engine.formats.star import PARTICLE_COLUMNS
from engine.formats.ground_truth import load_ground_truth
from engine.simulation.manifest import read_manifest
from engine.landscape.presets import load_preset
from engine.imaging.projector import TwoBodyProjector
from engine.simulation.objects import build_object
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.simulation.verify import verify_dataset

N, BOX, CHUNK, SHIFT_A = 600, 32, 250, 12.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds") / "data"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N, box_size=BOX, chunk_size=CHUNK,
                          max_shift_A=SHIFT_A, snr=1.0, seed=11)
    result = run_simulation(plan, folder, workers=1)
    assert result.status == "complete"
    star = starfile.read(folder / "particles.star", always_dict=True)
    return plan, folder, star, result


def test_stacks_and_maps_are_valid_mrc(dataset):
    plan, folder, _, _ = dataset
    apix = plan.effective_apix_A()
    for k, count in enumerate((250, 250, 100)):
        path = folder / f"particles/particles_{k:05d}.mrcs"
        assert mrcfile.validate(str(path), print_file=open("/dev/null", "w"))
        with mrcfile.open(path) as mrc:
            assert mrc.data.shape == (count, BOX, BOX) and mrc.data.dtype == np.float32
            assert mrc.is_image_stack()
            assert mrc.voxel_size.x == pytest.approx(apix, rel=1e-6)
            assert mrc.header.dmean == pytest.approx(mrc.data.mean(), rel=1e-3, abs=1e-4)
    names = ["lsu", "ssu", "ssu_mask"] + [f"well_{i:02d}" for i in range(1, 13)]
    for name in names:
        assert mrcfile.validate(str(folder / "maps" / f"{name}.mrc"), print_file=open("/dev/null", "w"))
    assert not list(folder.rglob("*.tmp"))


def test_star_file_is_relion_31_with_optics(dataset):
    plan, _, star, _ = dataset
    optics, particles = star["optics"], star["particles"]
    assert len(optics) == 1
    row = optics.iloc[0]
    assert row["rlnImageSize"] == BOX and row["rlnImagePixelSize"] == pytest.approx(plan.effective_apix_A())
    assert (row["rlnVoltage"], row["rlnSphericalAberration"], row["rlnAmplitudeContrast"]) == (300, 2.7, 0.1)
    assert len(particles) == N and tuple(particles.columns) == PARTICLE_COLUMNS
    names = particles["rlnImageName"].tolist()
    assert names[0] == "000001@particles/particles_00000.mrcs"
    assert names[CHUNK - 1] == f"{CHUNK:06d}@particles/particles_00000.mrcs"
    assert names[CHUNK] == "000001@particles/particles_00001.mrcs"
    assert names[-1] == "000100@particles/particles_00002.mrcs"
    assert (particles["rlnPhaseShift"] == 0).all()
    micrographs = particles["rlnMicrographName"]
    assert micrographs.nunique() == 3 and micrographs.is_monotonic_increasing
    assert set(particles["rlnRandomSubset"]) == {1, 2}
    assert abs((particles["rlnRandomSubset"] == 1).sum() - N / 2) <= 1
    dfu, dfv = particles["rlnDefocusU"], particles["rlnDefocusV"]
    assert dfu.between(1e4, 2.5e4 + 250).all() and (dfu >= dfv).all() and (dfu - dfv).max() <= 500
    origins = particles[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy()
    assert np.abs(origins).max() <= SHIFT_A and np.abs(origins).max() > SHIFT_A / 2


def test_images_are_what_the_metadata_says(dataset):
    """Re-project every particle from the STAR file's own angles, origins and defocus (plus the
    ground-truth conformation): each stored noisy image matches its own clean image and no
    other, and the residual is white noise of the manifest's sigma (SNR as defined)."""
    plan, folder, star, result = dataset
    particles = star["particles"]
    gt = load_ground_truth(folder / "ground_truth.npz")
    obj = build_object(plan)
    proj = TwoBodyProjector(obj)
    optics = CTFParams(300.0, 2.7, 0.1)
    stack = mrcfile.read(folder / "particles/particles_00001.mrcs")
    rows = particles.iloc[CHUNK:2 * CHUNK]
    assert (rows["rlnImageName"].str.split("@").str[1] == "particles/particles_00001.mrcs").all()
    index = rows["rlnImageName"].str.split("@").str[0].astype(int).to_numpy() - 1
    ctf = ctf_2d(BOX, obj.apix_A, rows["rlnDefocusU"], rows["rlnDefocusV"], rows["rlnDefocusAngle"], optics)
    clean = proj.project(rows[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(),
                         np.stack([gt.cc1_deg[CHUNK:2 * CHUNK], gt.cc2_deg[CHUNK:2 * CHUNK]], 1),
                         rows[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy(), ctf)
    noisy = stack[index]
    sigma = read_manifest(folder)["noise"]["sigma"]
    assert sigma == pytest.approx(result.noise.sigma)
    own = ((noisy - clean) ** 2).mean(axis=(1, 2)) / sigma ** 2           # ~1: only the noise is left
    other = ((np.roll(noisy, 1, axis=0) - clean) ** 2).mean(axis=(1, 2)) / sigma ** 2
    assert np.all(np.abs(own - 1) < 0.2) and np.all(other > own) and np.median(other) > 1.3
    residual = noisy - clean
    assert residual.std() == pytest.approx(sigma, rel=0.01)
    assert abs(residual.mean()) < 0.01 * sigma
    spectrum = np.abs(np.fft.rfft2(residual)) ** 2  # white: flat on average over frequencies
    assert spectrum[:, 1:8, 1:8].mean() == pytest.approx(spectrum[:, 8:15, 8:15].mean(), rel=0.1)
    y, x = np.mgrid[:BOX, :BOX] - BOX // 2
    disk = x * x + y * y <= result.noise.mask_radius_px ** 2
    snr = clean[:, disk].var(axis=1).mean() / sigma ** 2
    assert snr == pytest.approx(plan.snr, rel=0.15)


def test_cryodrgn_pickles(dataset):
    plan, folder, star, _ = dataset
    particles = star["particles"]
    with open(folder / "cryodrgn/poses.pkl", "rb") as fh:
        rot, trans = pickle.load(fh)
    assert rot.shape == (N, 3, 3) and trans.shape == (N, 2) and rot.dtype == trans.dtype == np.float64
    angles = particles[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    A = np.swapaxes(Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix(), 1, 2)
    np.testing.assert_allclose(rot, A, atol=1e-6)
    apix = plan.effective_apix_A()
    origins = particles[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy()
    np.testing.assert_allclose(trans, origins / apix / BOX, atol=1e-7)  # parse_pose_star: +origin / apix / D
    with open(folder / "cryodrgn/ctf.pkl", "rb") as fh:
        ctf = pickle.load(fh)
    assert ctf.shape == (N, 9) and ctf.dtype == np.float32
    np.testing.assert_allclose(ctf[:, 0], BOX)
    np.testing.assert_allclose(ctf[:, 1], apix, rtol=1e-6)
    np.testing.assert_allclose(ctf[:, 2:5], particles[["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"]], rtol=1e-5)
    np.testing.assert_allclose(ctf[:, 5:], np.tile([300.0, 2.7, 0.1, 0.0], (N, 1)), rtol=1e-6)


def test_cryosparc_particles(dataset):
    from cryosparc.dataset import Dataset

    plan, folder, star, _ = dataset
    particles = star["particles"]
    cs = np.load(folder / "cryosparc/particles.cs")
    assert len(cs) == N and len(np.unique(cs["uid"])) == N
    stack_of = particles["rlnImageName"].str.split("@").str[1].to_numpy()
    index_in = particles["rlnImageName"].str.split("@").str[0].astype(int).to_numpy() - 1
    assert (cs["blob/path"].astype(str) == stack_of).all() and (cs["blob/idx"] == index_in).all()
    assert (cs["blob/shape"] == BOX).all()
    A = np.swapaxes(Rotation.from_euler("ZYZ", particles[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(),
                                        degrees=True).as_matrix(), 1, 2)
    pose_matrix = Rotation.from_rotvec(cs["alignments3D/pose"].astype(np.float64)).as_matrix()
    np.testing.assert_allclose(np.swapaxes(pose_matrix, 1, 2), A, atol=1e-5)  # cryoDRGN: expmap(pose)^T = A
    np.testing.assert_allclose(cs["alignments3D/shift"] * plan.effective_apix_A(),
                               particles[["rlnOriginXAngst", "rlnOriginYAngst"]], atol=1e-4)
    np.testing.assert_allclose(np.rad2deg(cs["ctf/df_angle_rad"]), particles["rlnDefocusAngle"], atol=1e-3)
    loaded = Dataset.load(folder / "cryosparc/particles.cs")
    assert len(loaded) == N and "alignments3D/pose" in loaded.fields()


def test_ground_truth_and_manifest_agree_with_the_star(dataset):
    plan, folder, star, _ = dataset
    particles = star["particles"]
    gt = load_ground_truth(folder / "ground_truth.npz")
    assert (gt.image_name == particles["rlnImageName"].to_numpy()).all()
    np.testing.assert_allclose(gt.rot_deg, particles["rlnAngleRot"], atol=1e-5)
    np.testing.assert_allclose(gt.origin_y_A, particles["rlnOriginYAngst"], atol=1e-5)
    land = plan.landscape
    np.testing.assert_allclose(gt.energy_kcal_per_mol, land.energy(gt.cc1_deg, gt.cc2_deg))
    labels = land.grid().basins.label
    i1 = ((gt.cc1_deg - land.cc1_range_deg[0]) / 40.0 * land.grid_size).astype(int)
    i2 = ((gt.cc2_deg - land.cc2_range_deg[0]) / 30.0 * land.grid_size).astype(int)
    assert (gt.well == labels[i2, i1]).all()
    assert len(np.unique(gt.well)) == 12
    manifest = read_manifest(folder)
    assert manifest["status"] == "complete"
    assert [c["count"] for c in manifest["chunks"]] == [250, 250, 100]
    assert manifest["noise"]["definition"].startswith("SNR = signal_var / sigma^2")
    assert manifest["software"]["numpy"] == np.__version__
    assert set(manifest["files"]) >= {"particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl", "ground_truth.npz"}
    assert verify_dataset(folder) == []


def test_streamed_ground_truth_is_the_savez_file(dataset, tmp_path):
    """ground_truth.npz written streaming (image names chunk by chunk) holds exactly what
    np.savez of the in-memory GroundTruth holds: same fields, dtypes, shapes and values."""
    from dataclasses import fields

    from engine.formats.ground_truth import save_ground_truth
    from engine.formats.ground_truth import ground_truth_of
    from engine.simulation.chunks import chunk_metadata
    from engine.simulation.context import get_context

    plan, folder, _, _ = dataset
    ctx = get_context(plan)
    save_ground_truth(ground_truth_of(plan.landscape, [chunk_metadata(ctx, k) for k in range(plan.n_chunks)]),
                      tmp_path / "savez.npz")
    with np.load(folder / "ground_truth.npz") as streamed, np.load(tmp_path / "savez.npz") as reference:
        assert streamed.files == reference.files == [f.name for f in fields(load_ground_truth(tmp_path / "savez.npz"))]
        for name in reference.files:
            assert streamed[name].dtype == reference[name].dtype, name
            np.testing.assert_array_equal(streamed[name], reference[name], err_msg=name)
    assert load_ground_truth(folder / "ground_truth.npz").image_name[-1] == "000100@particles/particles_00002.mrcs"
