"""Contour lines of the designer's map: vectorised marching squares and level choice."""
import numpy as np
import pytest

from gui.widgets.contours import contour_segments, nice_levels


def test_contour_of_a_cone_is_a_closed_circle():
    x = np.linspace(-2.0, 2.0, 161)
    y = np.linspace(-1.5, 1.5, 121)
    r = np.hypot(x[None, :], y[:, None])
    level = 0.973  # not exactly on a grid node, where segments degenerate to points
    xs, ys = contour_segments(r, x, y, [level])
    assert xs.size % 2 == 0 and xs.size > 100
    np.testing.assert_allclose(np.hypot(xs, ys), level, atol=2e-3)
    # every end point is shared by exactly two segments: the curve is closed
    ends = np.round(np.column_stack([xs, ys]), 9)
    _, counts = np.unique(ends, axis=0, return_counts=True)
    assert np.all(counts == 2)
    # the segments go all the way round
    angles = np.arctan2(ys, xs)
    assert np.histogram(angles, bins=12, range=(-np.pi, np.pi))[0].min() > 0


def test_levels_outside_the_data_give_nothing_and_saddles_give_two_segments():
    z = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert contour_segments(z, np.array([0.0, 1.0]), np.array([0.0, 1.0]), [2.0])[0].size == 0
    xs, _ = contour_segments(z, np.array([0.0, 1.0]), np.array([0.0, 1.0]), [0.5])
    assert xs.size == 4


@pytest.mark.parametrize("lo, hi", [(-3.68, 1.99), (-6.2, 3.3), (0.001, 0.0042)])
def test_nice_levels_are_round_and_inside(lo, hi):
    levels = nice_levels(lo, hi, 12)
    assert 6 <= levels.size <= 25
    assert np.all((levels > lo) & (levels < hi))
    step = np.diff(levels)
    np.testing.assert_allclose(step, step[0])
    mantissa = step[0] / 10 ** np.floor(np.log10(step[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert nice_levels(1.0, 1.0).size == 0
