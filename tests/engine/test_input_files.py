"""engine.input_files: only regular files of a sane size are read; the maps refuse the others."""
import os

import pytest

from engine.input_files import format_bytes, input_file_problem
from engine.structure.maps import MapFileError, map_frame, read_map


def test_regular_files_pass_and_the_rest_are_named(tmp_path):
    small = tmp_path / "small.json"
    small.write_text("{}")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert input_file_problem(small, max_bytes=10) is None
    assert input_file_problem(tmp_path / "absent") == "no such file"
    assert input_file_problem(tmp_path) == "is a folder, not a regular file"
    assert input_file_problem(fifo) == "is a named pipe (FIFO), not a regular file"  # and did not block
    assert input_file_problem("/dev/zero") == "is a character device, not a regular file"
    assert input_file_problem(small, max_bytes=1, what="a landscape file") == \
        "is 2 B, more than the 1 B that a landscape file may be"


def test_format_bytes():
    assert [format_bytes(n) for n in (999, 1500, 2.5e9, 4.4e17)] == ["999 B", "1.5 KB", "2.5 GB", "440000.0 TB"]


@pytest.mark.parametrize("reader", [read_map, map_frame])
def test_maps_refuse_devices_and_pipes_before_reading(tmp_path, reader):
    fifo = tmp_path / "lsu.mrc"
    os.mkfifo(fifo)
    with pytest.raises(MapFileError, match=r"lsu.mrc: is a named pipe \(FIFO\), not a regular file"):
        reader(fifo)
    with pytest.raises(MapFileError, match="/dev/zero: is a character device"):
        reader("/dev/zero")
