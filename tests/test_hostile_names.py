"""Names from files reach terminals, spreadsheets and HTML pages as text, never as live control.

A model's file name travels into every table, line, CSV cell and report edgekd writes. Here it
carries an OSC sequence that sets a terminal's window title (ESC ] 0 ; ... BEL), a bidi override
(U+202E) and a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import re
import shutil

from tests.conftest import invoke

HOSTILE = '=HYPERLINK("x")\x1b]0;pwned\x07\u202eevil'
RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_a_hostile_model_name_stays_text_in_bench_csv_and_the_report(int8_model_file, tmp_path):
    model = tmp_path / f"{HOSTILE}.tflite"
    shutil.copy(int8_model_file, model)
    bench = invoke("bench", str(model), "--runs", "20", "--min-seconds", "0.1", "--cooldown", "0")
    assert bench.exit_code == 0, bench.stderr
    assert "per-invoke floor" in bench.stdout or "floor" in bench.stdout
    assert not RAW.search(bench.stdout) and not RAW.search(bench.stderr), "every line, not only the table"
    assert "\\x1b]0;pwned\\x07" in bench.stdout, "the name is shown, escaped"
    run_id = re.search(r"stored as run (\d+)", bench.stderr).group(1)

    export = invoke("results", "export", "--csv")
    assert export.exit_code == 0, export.stderr
    compare = invoke("compare", run_id, "--csv")
    assert compare.exit_code == 0, compare.stderr
    for text in (export.stdout, compare.stdout):
        assert not RAW.search(text)
        cells = _cells(text)
        assert any("HYPERLINK" in cell for cell in cells)
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")], "no cell reads as a formula"
        assert not [cell for cell in cells if cell.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", cell)]
    exported = tmp_path / "runs.csv"
    assert invoke("results", "export", "--csv", "--out", str(exported)).exit_code == 0
    assert not RAW.search(exported.read_text())

    report = invoke("report", run_id, "--out", str(tmp_path / "report"))
    assert report.exit_code == 0, report.stderr
    for name in ("report.html", "report.md"):
        page = (tmp_path / "report" / name).read_text()
        assert "evil" in page and not RAW.search(page), name


def test_a_progress_bar_shows_a_hostile_folder_or_device_name_escaped():
    # tqdm writes its description as it is; bars appear only in a terminal, where a profile file
    # or a data folder named with ESC ] 0 ; ... BEL set the window title (`bench` on such a device).
    from edgekd.progress import Reporter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with Reporter(stream=terminal).bar(2, f"benchmarking on {HOSTILE}", unit="model") as bar:
        bar.update(2)
    shown = terminal.getvalue()
    assert "benchmarking on" in shown, "the bar was drawn"
    assert "\x1b]" not in shown and "\u202e" not in shown and "\\x1b]0;pwned\\x07" in shown


def test_what_the_python_api_says_on_stderr_is_escaped_too(capsys):
    # `edgekd.distill(...)` and the others say where checkpoints and runs went, and why a search
    # trial failed, on stderr; those lines name folders and files (the CLI's own echo escapes its).
    from edgekd.api.store import say_on_stderr

    say_on_stderr(f"resuming from the checkpoints in /runs/{HOSTILE}")
    said = capsys.readouterr().err
    assert not RAW.search(said.rstrip("\n")) and "\\x1b]0;pwned\\x07" in said
