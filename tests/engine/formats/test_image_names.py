"""Particle image names: one format, one parser, and everything that names particles uses them."""
import numpy as np

from engine.formats.dataset import image_names_for
from engine.formats.image_names import format_image_names, parse_image_names, stack_file_name
from engine.formats.loaders.cryosparc import blob_image_names
from engine.formats.loaders.matching import stack_keys


def test_names_are_relions_one_based_positions_in_the_chunks_stack():
    assert stack_file_name(3) == "particles/particles_00003.mrcs"
    names = format_image_names([1, 2, 1234567], stack_file_name(0))
    assert list(names) == [f"{i:06d}@particles/particles_00000.mrcs" for i in (1, 2, 1234567)]
    assert list(format_image_names([5, 6], ["a.mrcs", "dir/b.mrcs"])) == ["000005@a.mrcs", "000006@dir/b.mrcs"]
    assert format_image_names([], "a.mrcs").shape == (0,) and image_names_for(0, 10).shape == (0,)
    assert list(image_names_for(5, chunk_size=2)) == [
        "000001@particles/particles_00000.mrcs", "000002@particles/particles_00000.mrcs",
        "000001@particles/particles_00001.mrcs", "000002@particles/particles_00001.mrcs",
        "000001@particles/particles_00002.mrcs"]


def test_parse_is_the_inverse_and_flags_what_is_not_a_name():
    names = format_image_names([7, 120], ["particles/particles_00001.mrcs", "J1/imported/x.mrcs"])
    position, stack, ok = parse_image_names(list(names) + ["12@", "x@a.mrcs", "no name"])
    assert list(position) == [7, 120, 0, 0, 0] and list(ok) == [True, True, False, False, False]
    assert list(stack[:2]) == ["particles/particles_00001.mrcs", "J1/imported/x.mrcs"] and stack[2] == ""
    assert [len(a) for a in parse_image_names([])] == [0, 0, 0]
    keys, valid = stack_keys(["000012@Extract/job3/a.mrcs", "3@b.mrcs"])
    assert list(keys) == ["12@a.mrcs", "3@b.mrcs"] and valid.all()


def test_cryosparc_blobs_are_named_like_the_dataset():
    names = blob_image_names(np.array([b"particles/particles_00000.mrcs"] * 2, dtype="S64"), np.array([0, 1]))
    assert list(names) == list(format_image_names([1, 2], "particles/particles_00000.mrcs"))


def test_an_empty_star_file_has_the_particles_block(tmp_path):
    from engine.formats.particle_metadata import ParticleMetadata
    from engine.formats.star import PARTICLE_COLUMNS, Optics, read_star_blocks, write_particles_star

    assert len(ParticleMetadata.empty().image_names()) == 0
    assert write_particles_star(tmp_path / "p.star", Optics(32, 2.0, 300.0, 2.7, 0.1), []) == 0
    blocks = read_star_blocks(tmp_path / "p.star")
    assert blocks["optics"]["rlnImageSize"].iloc[0] == 32
    assert "particles" not in blocks or len(blocks["particles"]) == 0
    assert (tmp_path / "p.star").read_text().count("_rln") == 10 + len(PARTICLE_COLUMNS)
