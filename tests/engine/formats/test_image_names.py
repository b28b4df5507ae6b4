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
    assert list(image_names_for(5, chunk_size=2)) == [
        "000001@particles/particles_00000.mrcs", "000002@particles/particles_00000.mrcs",
        "000001@particles/particles_00001.mrcs", "000002@particles/particles_00001.mrcs",
        "000001@particles/particles_00002.mrcs"]


def test_parse_is_the_inverse_and_flags_what_is_not_a_name():
    names = format_image_names([7, 120], ["particles/particles_00001.mrcs", "J1/imported/x.mrcs"])
    position, stack, ok = parse_image_names(list(names) + ["12@", "x@a.mrcs", "no name"])
    assert list(position) == [7, 120, 0, 0, 0] and list(ok) == [True, True, False, False, False]
    assert list(stack[:2]) == ["particles/particles_00001.mrcs", "J1/imported/x.mrcs"] and stack[2] == ""
    keys, valid = stack_keys(["000012@Extract/job3/a.mrcs", "3@b.mrcs"])
    assert list(keys) == ["12@a.mrcs", "3@b.mrcs"] and valid.all()


def test_cryosparc_blobs_are_named_like_the_dataset():
    names = blob_image_names(np.array([b"particles/particles_00000.mrcs"] * 2, dtype="S64"), np.array([0, 1]))
    assert list(names) == list(format_image_names([1, 2], "particles/particles_00000.mrcs"))
