"""Progress read from tools' own lines: fractions, ETA, and lines split the way tools write them."""
import pytest

from engine.methods.progress import (EPOCH_PARSER, ITERATION_PARSER, PERCENT_PARSER, LineSplitter, ProgressParser,
                                     ProgressTracker, eta_s)


@pytest.mark.parametrize("parser, line, fraction", [
    (EPOCH_PARSER, "Epoch 3/25 loss=0.1", 3 / 25),
    (EPOCH_PARSER, "(INFO) epoch: 10 of 20", 0.5),
    (ITERATION_PARSER, "Auto-refine: iteration 5 of 20", 0.25),
    (ITERATION_PARSER, "Iteration = 4/8", 0.5),
    (PERCENT_PARSER, " 45%|####      | 450/1000", 0.45),
    (ProgressParser(r"Epoch: (?P<done>\d+)", total=25), "# =====> Epoch: 5 Average gen loss = 0.9", 0.2),
    (ProgressParser(r"Epoch (?P<done>\d+)/(?P<total>\d+)", started=True), "Epoch 3/25", 2 / 25),
    (EPOCH_PARSER, "Epoch 30/25", 1.0),
])
def test_parsers_give_the_fraction_done(parser, line, fraction):
    assert parser.fraction(line) == pytest.approx(fraction)


def test_lines_without_progress_give_none():
    assert EPOCH_PARSER.fraction("loading particles.star") is None
    assert ITERATION_PARSER.fraction("iteration 0 of 0") is None


def test_a_parser_needs_done_and_a_total():
    with pytest.raises(ValueError, match="'done' or 'percent'"):
        ProgressParser(r"Epoch \d+")
    with pytest.raises(ValueError, match="total="):
        ProgressParser(r"Epoch (?P<done>\d+)")


def test_eta_is_linear_in_the_fraction():
    assert eta_s(30.0, 0.25) == pytest.approx(90.0)
    assert eta_s(30.0, 1.0) == 0.0
    assert eta_s(30.0, 0.0) is None


def test_tracker_reports_growing_fractions_with_eta():
    now = [100.0]
    reports = []
    tracker = ProgressTracker("train", EPOCH_PARSER, reports.append, clock=lambda: now[0])
    now[0] = 110.0
    tracker.feed("Epoch 1/4")
    now[0] = 120.0
    tracker.feed("Epoch 1/4")      # no news: no report
    tracker.feed("unrelated line")
    tracker.feed("Epoch 2/4")
    tracker.feed("Epoch 1/4")      # a second phase counting again does not move the bar back
    tracker.finish()
    assert [r.fraction for r in reports] == [0.25, 0.5, 1.0]
    assert reports[0].eta_s == pytest.approx(30.0)        # 10 s for a quarter
    assert reports[1].eta_s == pytest.approx(20.0)        # 20 s for a half
    assert reports[1].line == "Epoch 2/4" and reports[-1].state == "done"


def test_line_splitter_handles_crlf_lone_cr_and_chunk_boundaries():
    splitter = LineSplitter()
    lines = []
    for chunk in (b"first\r", b"\nsecond\n 10%\r 20%\r", b"\xc3", b"\xa9t\xc3\xa9\nlast"):
        lines += splitter.feed(chunk)
    lines += splitter.flush()
    assert lines == ["first", "second", " 10%", " 20%", "\u00e9t\u00e9", "last"]
