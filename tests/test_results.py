"""The results store, comparisons and the HTML report (rendered in a real headless Chromium)."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from edgekd.results.store import SCHEMA_VERSION, ResultsStore, StoreError, _create_v1
from tests.conftest import assert_clean_failure, invoke, on_read_only_media


def sample_document(kind: str = "bench", device: str = "host", p50: float = 0.01) -> dict:
    from edgekd.results.document import new_document

    document = new_document(kind)
    document["models"] = {
        "teacher_float32": {"accuracy": 0.9, "size_bytes": 1000, "macs": 500, "format": "tflite (float32)"}
    }
    document["benchmarks"] = [
        {
            "model": "teacher_float32",
            "device": device,
            "ok": True,
            "latency_ms": {"p50": p50, "p90": 2 * p50},
            "energy": {},
        }
    ]
    return document


def test_a_run_round_trips_with_its_artifact_hashes(tmp_path):
    artifact = tmp_path / "model.tflite"
    artifact.write_bytes(b"TFL3 model bytes")
    with ResultsStore(tmp_path / "store.db") as store:
        run_id = store.record(sample_document(), tmp_path, {"model.tflite": artifact})
        assert store.document(run_id)["benchmarks"][0]["device"] == "host"
        [stored] = store.artifacts(run_id)
        assert stored["path"] == "model.tflite" and stored["size_bytes"] == 16
        import hashlib

        assert stored["sha256"] == hashlib.sha256(b"TFL3 model bytes").hexdigest()
        assert [r.id for r in store.runs(device="host")] == [run_id] and not store.runs(device="rpi4")


def test_an_older_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    _create_v1(db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (kind, created, edgekd_version, results_schema, out_path, document) VALUES (?, ?, ?, ?, ?, ?)",
        ("distill", "2026-01-01T00:00:00+00:00", "0.0.9", 1, None, json.dumps({"kind": "distill", "models": {}})),
    )
    db.commit()
    db.close()
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        assert store.document(1)["kind"] == "distill", "the old run survives the migration"
        assert store.artifacts(1) == []
        assert "benchmarks_run" in {row[1] for row in store.db.execute("PRAGMA index_list(benchmarks)")}
        store.record(sample_document(), None, {})
        assert len(store.runs()) == 2


def test_a_store_from_a_newer_edgekd_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="schema version 99, newer than this edgekd reads"):
        ResultsStore(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my notes, not a database\n")
    result = invoke("results", "list", "--db", str(path))
    assert_clean_failure(result, "is not a SQLite database")
    assert path.read_text() == "my notes, not a database\n"


def test_a_locked_store_is_a_clear_error_and_loses_nothing(tmp_path):
    path = tmp_path / "store.db"
    with ResultsStore(path) as store:
        store.record(sample_document(), None, {})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with ResultsStore(path, timeout=0.2) as store, pytest.raises(StoreError, match="is locked by another process"):
            store.record(sample_document(), None, {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with ResultsStore(path) as store:
        assert len(store.runs()) == 1


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "store.db"
    with ResultsStore(path) as store:
        store.record(sample_document(), None, {})
        broken = sample_document()
        # The run row goes in first; this model's accuracy (a list) cannot, so the write fails halfway.
        broken["models"]["broken"] = {"accuracy": [0.5, 0.6]}
        with pytest.raises(sqlite3.Error):
            store.record(broken, None, {})
        assert len(store.runs()) == 1
        assert store.db.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0] == 1
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _write_many(args) -> list[int]:
    path, worker = args
    ids = []
    for index in range(5):
        with ResultsStore(Path(path)) as store:
            ids.append(store.record(sample_document(device=f"device{worker}", p50=0.01 * (index + 1)), None, {}))
    return ids


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "store.db"
    ResultsStore(path).close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = [i for chunk in pool.map(_write_many, [(str(path), w) for w in range(4)]) for i in chunk]
    assert sorted(ids) == list(range(1, 21))
    with ResultsStore(path) as store:
        assert len(store.runs()) == 20
        assert store.db.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0] == 20
        for worker in range(4):
            assert len(store.runs(device=f"device{worker}")) == 5


def test_commands_record_their_runs_and_results_show_them(pipeline_run, results_store):
    out, document = pipeline_run
    listing = invoke("results", "list", "--kind", "demo", "--json")
    assert listing.exit_code == 0, listing.stderr
    runs = [r for r in json.loads(listing.stdout) if r["out_path"] == str(out.resolve())]
    assert len(runs) == 1 and runs[0]["benchmarks"] == len(document["benchmarks"])
    shown = invoke("results", "show", str(runs[0]["id"]), "--json")
    stored = json.loads(shown.stdout)
    assert stored["document"]["models"]["student_int8"]["accuracy"] == document["models"]["student_int8"]["accuracy"]
    assert {a["path"] for a in stored["artifacts"]} >= {"student_int8.tflite", "results.json", "report.html"}


def test_an_unknown_run_names_the_nearest(tmp_path):
    path = tmp_path / "store.db"
    with ResultsStore(path) as store:
        for _ in range(5):
            store.record(sample_document(), None, {})
    result = invoke("results", "show", "9", "--db", str(path))
    assert_clean_failure(result, "no run 9", "nearest: 3, 4, 5")


def test_export_csv_and_json(tmp_path):
    path = tmp_path / "store.db"
    with ResultsStore(path) as store:
        store.record(sample_document(device="rpi4"), None, {})
    as_csv = invoke("results", "export", "--csv", "--db", str(path))
    header, row = as_csv.stdout.strip().splitlines()
    assert header.startswith("run,model,device,accuracy") and ",rpi4," in row
    as_json = invoke("results", "export", "--json", "--db", str(path))
    assert json.loads(as_json.stdout)[0]["benchmarks"][0]["device"] == "rpi4"


def test_compare_gives_ratios_against_the_teacher(pipeline_run):
    out, document = pipeline_run
    result = invoke("compare", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    compared = json.loads(result.stdout)
    measured = {r["model"]: r for r in compared["rows"] if r["device"] == "host"}
    assert {"teacher_float32", "student_int8"} <= set(measured)
    ratio = next(r for r in compared["ratios"] if r["model"] == "student_int8")
    expected = measured["teacher_float32"]["p50_ms"] / measured["student_int8"]["p50_ms"]
    assert ratio["speedup"] == pytest.approx(expected) and ratio["baseline"] == "teacher_float32"
    assert "student_int8 on host:" in ratio["text"] and "(measured)" in ratio["text"]
    table = invoke("compare", str(out))
    assert ratio["text"] in table.stdout


def test_compare_estimates_devices_no_run_measured_and_says_so(pipeline_run):
    out, document = pipeline_run
    result = invoke("compare", str(out), "--device", "rpi4", "--json")
    rows = json.loads(result.stdout)["rows"]
    assert rows and {r["latency_source"] for r in rows} == {"estimated"}
    int8 = next(r for r in rows if r["model"] == "student_int8")
    from edgekd.results.estimates import estimate_record

    found = estimate_record("student_int8", document["models"]["student_int8"], "rpi4").estimate
    # The calibrated estimate on the record's workload, not MACs over a throughput.
    assert int8["p50_ms"] == pytest.approx(found.latency_ms) and int8["interval_ms"][0] < int8["p50_ms"]
    assert int8["energy_source"] == "estimated" and "xnnpack-readme-raspberry-pi" in int8["basis"]
    assert int8["p50_ms"] != pytest.approx(1000 * int8["macs"] / 1.76e10)
    text = invoke("compare", str(out), "--device", "rpi4").stdout
    assert "nothing was run there" in text and "(estimated)" in text and "held-out error" in text


def test_compare_estimates_a_bare_tflite_file_and_names_a_device_without_calibration(int8_model_file):
    result = invoke("compare", str(int8_model_file), "--device", "nano33ble", "--json")
    (row,) = json.loads(result.stdout)["rows"]
    assert row["latency_source"] == "estimated" and row["device"] == "nano33ble" and row["energy_mj"] > 0
    refused = invoke("compare", str(int8_model_file), "--device", "galaxy-a52")
    assert refused.exit_code == 1 and "no calibration" in refused.stderr and "MACs" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_compare_refuses_other_schema_versions_and_empty_selections(pipeline_run, tmp_path):
    out, document = pipeline_run
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**document, "schema_version": 0}))
    assert_clean_failure(invoke("compare", str(out), str(old)), "another schema version", "old.json (schema 0)")
    assert_clean_failure(invoke("compare", str(out), "--device", "no-such-device"), "unknown device 'no-such-device'")
    empty = tmp_path / "empty.db"
    assert_clean_failure(invoke("compare", "--db", str(empty)), "no results store at")
    assert not empty.exists(), "looking creates no store"


def test_report_is_self_contained(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = invoke("report", str(out), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count('<img alt="') >= 4 and page.count('src="data:image/png;base64,') == page.count("<img")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "## Caveats" in markdown and "Energy on host is absent" in markdown
    again = invoke("report", str(out), "--out", str(tmp_path / "report"))
    assert_clean_failure(again, "already exists")


HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="report" src="report.html" width="1200" height="900"></iframe>
<script>
document.getElementById("report").addEventListener("load", () => {
  const doc = document.getElementById("report").contentDocument;
  const images = Array.from(doc.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  document.getElementById("result").textContent = JSON.stringify({images: images.length, broken: broken});
});
</script></body></html>
"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is missing: scripts/setup-tests.sh installs it"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


def test_the_demo_report_renders_in_a_real_browser(pipeline_run, tmp_path):
    out, _ = pipeline_run
    assert (out / "report.html").exists(), "edgekd run/demo end by writing the HTML report"
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(out / "report.html", folder / "report.html")
    (folder / "harness.html").write_text(HARNESS)
    loaded = chromium(
        "--allow-file-access-from-files",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--dump-dom",
        (folder / "harness.html").as_uri(),
        profile=tmp_path / "profile-a",
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    marker = loaded.stdout.split('<pre id="result">', 1)[1].split("</pre>", 1)[0]
    status = json.loads(marker)
    assert status["images"] >= 4 and status["broken"] == [], status
    console = [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line and "report.html" in line]
    assert console == [], console

    shot = tmp_path / "shot.png"
    taken = chromium(
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        (folder / "report.html").as_uri(),
        profile=tmp_path / "profile-b",
    )
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("L").getextrema()
    assert colours[0] < 100 < colours[1], "the screenshot shows text and plots, not a blank page"


WRITER = """
import sys
from edgekd.results.store import ResultsStore
document = {"kind": "bench", "created": "2026", "schema_version": 1, "models": {},
            "benchmarks": [{"model": f"m{i}", "device": "host", "ok": True, "latency_ms": {"p50": 1.0}} for i in range(300)]}
with ResultsStore(sys.argv[1]) as store:
    while True:
        store.record(document, None, {})
"""


def test_killing_a_writer_mid_stream_leaves_every_stored_run_whole(tmp_path):
    import signal
    import sys
    import time

    path = tmp_path / "store.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if path.exists():
                with ResultsStore(path) as store:
                    if len(store.runs()) >= 5:
                        break
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    with ResultsStore(path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = store.runs()
        assert len(runs) >= 5
        assert {run.benchmarks for run in runs} == {300}, "every stored run is complete; a killed write left nothing"


def _malformed(change) -> dict:
    document = sample_document()
    document["distillation"] = {
        "method": "kd",
        "verdict": "distillation helped",
        "budget": {"steps": 1, "batch_size": 8},
    }
    change(document)
    return document


def _nested(depth: int) -> dict:
    inner: dict = {}
    for _ in range(depth):
        inner = {"x": inner}
    return inner


# (what is wrong, how, the field the error must name)
MALFORMED = [
    ("benchmarks not a list", lambda d: d.update(benchmarks={"a": 1}), "'benchmarks'"),
    ("a benchmark not an object", lambda d: d.update(benchmarks=[5]), "'benchmarks.0'"),
    ("latency a string", lambda d: d["benchmarks"][0].update(latency_ms="fast"), "'benchmarks.0.latency_ms'"),
    ("p50 a string", lambda d: d["benchmarks"][0].update(latency_ms={"p50": "1 ms"}), "'benchmarks.0.latency_ms.p50'"),
    ("energy a string", lambda d: d["benchmarks"][0].update(energy="low"), "'benchmarks.0.energy'"),
    ("energy value a string", lambda d: d["benchmarks"][0].update(energy={"value_mj": "2"}), "energy.value_mj'"),
    ("ok missing", lambda d: d["benchmarks"][0].pop("ok"), "'benchmarks.0.ok'"),
    ("device a number", lambda d: d["benchmarks"][0].update(device=7), "'benchmarks.0.device'"),
    ("models a list", lambda d: d.update(models=[1, 2]), "'models'"),
    ("a model record a number", lambda d: d["models"].update(teacher_float32=5), "'models.teacher_float32'"),
    ("accuracy a string", lambda d: d["models"]["teacher_float32"].update(accuracy="90%"), "teacher_float32.accuracy'"),
    ("verdict missing", lambda d: d["distillation"].pop("verdict"), "'distillation.verdict'"),
    ("budget steps a string", lambda d: d["distillation"]["budget"].update(steps="ten"), "'distillation.budget.steps'"),
    (
        "training curve a string",
        lambda d: d.update(training={"s": {"val_accuracy": "0.9"}}),
        "training.s.val_accuracy'",
    ),
    ("timings a list", lambda d: d.update(timings_s=[1.0]), "'timings_s'"),
    ("kind missing", lambda d: d.pop("kind"), "'kind'"),
    ("deep nesting", lambda d: d.update(config=_nested(200)), "nested more than 64 levels"),
    ("another schema version", lambda d: d.update(schema_version=2), "(schema 2) holds results of another schema"),
]


@pytest.mark.parametrize("change, field", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_results_files_are_one_clear_error(tmp_path, change, field):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_malformed(change)))
    assert_clean_failure(invoke("compare", str(bad)), "bad.json", field)
    assert_clean_failure(invoke("report", str(bad), "--out", str(tmp_path / "report")), "bad.json", field)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_nesting_past_the_json_parser_is_one_clear_error(tmp_path):
    bad = tmp_path / "deep.json"
    bad.write_text('{"schema_version": 1, "kind": "run", "config": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_clean_failure(invoke("compare", str(bad)), "deep.json", "nested more than 64 levels")


def test_the_well_formed_sample_compares_and_reports(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_malformed(lambda d: None)))
    assert invoke("compare", str(good)).exit_code == 0
    result = invoke("report", str(good), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.stderr


def test_names_from_files_stay_text_in_plots_and_report_md(pipeline_run, tmp_path):
    out, document = pipeline_run
    hostile = "m$^$<img src=x onerror=alert(1)>|`x`"
    text = json.dumps(document).replace('"student_int8"', json.dumps(hostile))
    assert hostile in json.loads(text)["models"], "the benchmarked model is renamed everywhere"
    renamed = tmp_path / "renamed.json"
    renamed.write_text(text)
    result = invoke("report", str(renamed), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.stderr
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt;\\|\\`x\\`" in markdown
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<img src=x" not in page and page.count('src="data:image/png;base64,') >= 4, "every plot is drawn"


def test_a_store_path_under_a_file_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert_clean_failure(invoke("results", "list", "--db", str(blocker / "x.db")), "a_file is a file, not a folder")
    from_environment = invoke("results", "list", env={"EDGEKD_DB": str(blocker / "x.db")})
    assert_clean_failure(from_environment, "a_file is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_a_locked_store_stops_a_command_before_its_work(teacher_file, tmp_path):
    from tests.conftest import TINY_DATA

    path = tmp_path / "store.db"
    ResultsStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = tmp_path / "out"
        result = invoke(
            "distill", "--teacher", str(teacher_file), "--data", TINY_DATA, "--out", str(out), "--db", str(path)
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_clean_failure(result, "is locked by another process")
    assert not [line for line in result.stderr.splitlines() if line.startswith("[")], "no stage started"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("store.db")) == []


def test_a_store_on_read_only_media_lists_and_shows_and_refuses_to_record(int8_model_file, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    store = folder / "results.db"
    with ResultsStore(store) as opened:
        opened.record(sample_document(), None, {"student_int8.tflite": int8_model_file})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    probe = on_read_only_media(folder, "--version")
    assert probe.returncode == 0, f"no private read-only mount here: {probe.stderr}"
    listing = on_read_only_media(folder, "results", "list", "--db", str(store))
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[2].split()[:2] == ["1", "bench"], listing.stdout
    shown = on_read_only_media(folder, "results", "show", "1", "--db", str(store))
    assert shown.returncode == 0 and "student_int8.tflite" in shown.stdout, shown.stderr
    compared = on_read_only_media(folder, "compare", "1", "--db", str(store))
    assert compared.returncode == 0 and "teacher_float32" in compared.stdout, compared.stderr
    bench = on_read_only_media(folder, "bench", str(int8_model_file), "--runs", "3", "--db", str(store))
    assert bench.returncode == 1 and not bench.stdout and "Traceback" not in bench.stderr, bench.stderr
    assert bench.stderr.strip().splitlines()[-1] == (
        f"edgekd: error: results store {store} is read-only (on read-only media): its runs can be listed and shown, "
        "but no run can be recorded there; give --db (or EDGEKD_DB) a writable path"
    )
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
