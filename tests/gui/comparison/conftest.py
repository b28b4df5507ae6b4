"""Fixtures every Comparison test may use: ``model``, an empty ComparisonModel shut down after
the test (a test module that needs another one defines its own)."""
import pytest

from gui.comparison.comparison_model import ComparisonModel


@pytest.fixture
def model(qtbot):
    m = ComparisonModel()
    yield m
    m.shutdown()
