"""The run summary in a log (not a terminal) keeps whole rows: a log has no width to wrap at."""

import io

from rich.console import Console

from evalkit.report.summary import print_summary
from tests.report.test_health import build


def test_the_summary_in_a_log_is_not_cut_to_80_columns(tmp_path):
    store, run_id = build(tmp_path / "s.db")
    out = io.StringIO()
    console = Console(file=out, width=40)  # not a terminal: rich would lay it out at its width (80 by default)
    assert not console.is_terminal
    print_summary(store, run_id, console)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.lstrip("│ ").startswith("sft"))
    assert "0.6500 [0.0000, 1.000]" in row and "0.4000 [0.0000, 1.000]" in row  # each cell whole, on its line
    assert "⚠ base · toymc: picks option A on 20 of 20 items (100%); majority-class baseline 0.25: its accuracy " \
           "measures the answer key, not the model" in text  # a flag on one line
