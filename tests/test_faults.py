"""Injected faults: a device dying mid-benchmark, a device that never answers, a full disk, and load.

Every device here is a real OpenSSH server on 127.0.0.1 running the real agent; the disk
is full through RLIMIT_FSIZE on a real `python -m edgekd` process.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sshd import start_sshd


@pytest.fixture(scope="module")
def servers(sshd, tmp_path_factory):
    """Two independent loopback devices: the module's sshd and a second sshd process."""
    second = start_sshd(tmp_path_factory.mktemp("sshd-second"))
    yield [sshd, second]
    second.stop()


def edgekd(*args: str, env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgekd", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def stored_runs(db: Path) -> list[dict]:
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [json.loads(row[0]) for row in connection.execute("SELECT document FROM runs ORDER BY id")]


def test_a_device_killed_mid_benchmark_fails_alone_and_the_run_is_stored(servers, int8_model_file, tmp_path):
    steady, dying = servers
    devices = tmp_path / "devices"
    devices.mkdir()
    (devices / "steady.yaml").write_text(steady.profile_yaml("steady"))
    # The dying device's "python" records the agent's PID, then becomes the agent (exec keeps the PID). The first
    # agent on each device times the one-op model (the per-invoke floor); the second is the model's.
    pid_file, starts = tmp_path / "agent.pid", tmp_path / "agent.starts"
    wrapper = tmp_path / "dying-python"
    wrapper.write_text(
        f"#!/bin/sh\necho started >> {starts}\n"
        f'[ "$(wc -l < {starts})" -ge 2 ] && echo $$ > {pid_file}\nexec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    (devices / "dying.yaml").write_text(dying.profile_yaml("dying", python=str(wrapper)))
    db = tmp_path / "results.db"
    run = edgekd(
        "bench", str(int8_model_file), "--device", "steady", "--device", "dying",
        "--min-seconds", "4", "--runs", "10", "--db", str(db), "--json",
        env={"EDGEKD_DEVICES": str(devices)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the agent never started on the dying device"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    # LiteRT maps the model file when the interpreter loads it; a few warm-up runs later the
    # measured runs start and last at least 4 s (--min-seconds): half a second in is inside them,
    # however long the start took.
    maps = Path(f"/proc/{pid}/maps")
    while "model.tflite" not in maps.read_text():
        assert time.monotonic() < deadline, "the agent never loaded the model"
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(pid, 9)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1 and "Traceback" not in stderr
    by_device = {entry["device"]: entry for entry in json.loads(stdout)}
    assert by_device["steady"]["ok"] and by_device["steady"]["latency_ms"]["count"] >= 10
    assert not by_device["dying"]["ok"] and "dying" in by_device["dying"]["error"]
    assert "1 of 2 benchmark(s) failed" in stderr.strip().splitlines()[-1]
    (document,) = stored_runs(db)
    assert sorted((b["device"], b["ok"]) for b in document["benchmarks"]) == [("dying", False), ("steady", True)]


def test_a_device_that_accepts_and_never_answers_times_out(servers, int8_model_file, tmp_path, monkeypatch):
    from edgekd.bench.benchmark import benchmark
    from edgekd.bench.settings import BenchSettings
    from edgekd.errors import BenchmarkError
    from edgekd.profiles.loader import get_profile
    from edgekd.transport import ssh
    from edgekd.transport.ssh import RETRIES, RETRY_DELAY_S

    # The real attempts and retries, on a shorter connect timeout than a device gets (10 s).
    monkeypatch.setattr(ssh, "CONNECT_TIMEOUT_S", 2)
    CONNECT_TIMEOUT_S = ssh.CONNECT_TIMEOUT_S
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []

    def accept_and_say_nothing():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    devices = tmp_path / "devices"
    devices.mkdir()
    (devices / "silent.yaml").write_text(servers[0].profile_yaml("silent", port=listener.getsockname()[1]))
    monkeypatch.setenv("EDGEKD_DEVICES", str(devices))
    started = time.monotonic()
    try:
        with pytest.raises(BenchmarkError, match=r"silent: .*timed out.*after 3 attempts"):
            benchmark(int8_model_file, get_profile("silent"), BenchSettings(runs=5, min_seconds=0.01))
    finally:
        listener.close()
        for connection in held:
            connection.close()
    elapsed = time.monotonic() - started
    bound = (RETRIES + 1) * CONNECT_TIMEOUT_S + sum(RETRY_DELAY_S * (i + 1) for i in range(RETRIES)) + 10
    assert len(held) == RETRIES + 1, "bounded retries: one connection per attempt"
    assert elapsed < bound, f"took {elapsed:.0f} s, more than the {bound:.0f} s the retries allow"


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_gives_a_clean_error_and_no_partial_file(int8_model_file, tmp_path):
    # The C source of the model is about 6 bytes per model byte: far above a 16 KB file-size limit.
    out = tmp_path / "firmware"
    run = edgekd(
        "export", str(int8_model_file), "--format", "c", "--out", str(out),
        env={}, preexec_fn=_limit_file_size(16 * 1024), cwd=tmp_path,
    )  # fmt: skip
    _, stderr = run.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert run.returncode != 0 and "Traceback" not in stderr, stderr
    assert lines[-1].startswith("edgekd: error: ") and "too large" in lines[-1].lower(), lines[-1]
    assert not out.exists(), "nothing half-written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no staging folder or temporary file left"


def test_a_full_disk_while_quantizing_leaves_earlier_results_untouched(pipeline_run, tmp_path):
    # At 4 KB the results store cannot grow: the run stops there, before any long work.
    from tests.conftest import TINY_DATA

    out, _ = pipeline_run
    target = tmp_path / "model.tflite"
    target.write_bytes(b"the user's earlier model")
    run = edgekd(
        "quantize", str(out / "student_kd.keras"), "--data", TINY_DATA, "--out", str(target), "--force",
        env={"EDGEKD_DB": str(tmp_path / "results.db")}, preexec_fn=_limit_file_size(4 * 1024),
    )  # fmt: skip
    _, stderr = run.communicate(timeout=300)
    assert run.returncode != 0 and "Traceback" not in stderr, stderr[-2000:]
    # SQLite reports a write past RLIMIT_FSIZE as an I/O error of the store: the line names both.
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"edgekd: error: results store {tmp_path / 'results.db'}") and "disk I/O error" in last, last
    assert target.read_bytes() == b"the user's earlier model"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("results.db")) == ["model.tflite"]


def test_several_models_on_several_ssh_devices_with_concurrent_store_writes(
    servers, int8_model_file, pipeline_run, tmp_path
):
    out, _ = pipeline_run
    models = [int8_model_file, out / "student_int8.tflite"]
    devices = tmp_path / "devices"
    devices.mkdir()
    for index, server in enumerate(servers):
        (devices / f"board{index}.yaml").write_text(server.profile_yaml(f"board{index}"))
    db = tmp_path / "results.db"
    runs = [
        edgekd(
            "bench",
            *map(str, models),
            "--device",
            "board0",
            "--device",
            "board1",
            "--runs",
            "20",
            "--min-seconds",
            "0.1",
            "--db",
            str(db),
            "--json",
            env={"EDGEKD_DEVICES": str(devices)},
        )  # fmt: skip
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr[-1000:]
    documents = stored_runs(db)
    assert len(documents) == 3, "one stored run per bench, none lost or duplicated"
    for document in documents:
        pairs = sorted((b["model"], b["device"]) for b in document["benchmarks"])
        # Both files are student_int8.tflite: results name each by its folder as well.
        names = [f"{m.parent.name}/{m.stem}" for m in models]
        assert pairs == sorted((n, d) for n in names for d in ("board0", "board1"))
        assert all(b["ok"] for b in document["benchmarks"])
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0] == 12
    # No private key material reaches the output, the logs or the store (its path may, as configuration).
    secrets = [line for server in servers for line in server.user_key.read_text().splitlines()[1:-1]]
    exposed = "".join(out + err for out, err in outputs) + db.read_bytes().decode("latin-1")
    assert secrets and not [line for line in secrets if line in exposed]


def test_a_full_disk_during_a_model_write_keeps_the_old_model(tmp_path):
    # The writer every artifact goes through (quantize's .tflite included), in a process whose
    # file-size limit the new model exceeds: the old model stays, no temporary file is left.
    target = tmp_path / "model.tflite"
    target.write_bytes(b"the model the application loads today")
    code = (
        "import sys\n"
        "from edgekd.artifacts import write_bytes_atomic\n"
        "from edgekd.errors import OutputError\n"
        "try:\n"
        f"    write_bytes_atomic({str(target)!r}, bytes(64 * 1024))\n"
        "except OutputError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(1)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=_limit_file_size(16 * 1024)
    )
    assert completed.returncode == 1, completed.stderr
    assert "File too large" in completed.stdout and "nothing was written" in completed.stdout
    assert target.read_bytes() == b"the model the application loads today"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
