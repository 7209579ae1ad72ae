"""The compute answer every run ends with: measured on the host, estimated on profiles, with its sources."""

from __future__ import annotations

import re

import pytest

from edgekd.results.answer import X86_INT8_NOTE, basis_lines, compute_answer, cost_lines, estimates, host_line


def _record(macs: int, mode: str, ops: int) -> dict:
    """A .tflite record of a conv model: ``macs`` of convolution, ``ops`` ops, with its workload."""
    work = {"conv": macs, "depthwise": 0, "fully_connected": 320, "pooling": 1000, "elementwise": 0}
    total = {"work": work, "ops": ops, "weight_bytes": macs // 10, "io_bytes": 80}
    empty = {"work": dict.fromkeys(work, 0), "ops": 0, "weight_bytes": 0, "io_bytes": 0}
    workload = {"total": total, "edgetpu": total if mode == "int8" else empty, "cpu_fallback": empty}
    return {"macs": macs, "detected_mode": mode, "format": f"tflite ({mode})", "workload": workload}


MODELS = {
    "teacher_float32": _record(340_480, "float32", 12),
    "student_float32": _record(14_530, "float32", 8),
    "student_int8": _record(14_530, "int8", 8),
}


def _bench(model: str, p50: float, **more) -> dict:
    return {"model": model, "device": "host", "runner": "local", "ok": True, "latency_ms": {"p50": p50}, **more}


def document(**overhead) -> dict:
    floor = {"invoke_overhead": {"p50_ms": 0.0006, "runs": 100, "share_of_p50": 0.6, **overhead}}
    return {
        "models": MODELS,
        "benchmarks": [
            _bench("teacher_float32", 0.01),
            _bench("student_float32", 0.002),
            _bench("student_int8", 0.001, **floor),
        ],
    }


def test_the_host_ratio_and_the_floor_by_hand():
    lines = host_line(document())
    assert lines[0] == (
        "On host (measured, p50): teacher float32 10 µs, student float32 2 µs, student int8 1 µs; "
        "teacher : student ratio 10 : 2 : 1."
    )
    assert lines[1].startswith("Of the student int8's 1 µs, 0.6 µs (60%) is the per-invoke floor")
    assert "overhead dominates" in lines[1] and lines[2] == f"Note: {X86_INT8_NOTE}."
    assert "the arithmetic dominates" in host_line(document(share_of_p50=0.2))[1]


def test_estimates_come_from_each_device_calibration_with_interval_and_basis():
    from edgekd.modelfile.workload import split_from_dict
    from edgekd.profiles.estimate import estimate
    from edgekd.profiles.loader import get_profile

    found = {(e.role, e.device): e for e in estimates(document())}
    teacher = found[("teacher_float32", "rpi4")].estimate
    direct = estimate(get_profile("rpi4").profile, split_from_dict(MODELS["teacher_float32"]["workload"]), "float32")
    assert teacher.latency_ms == pytest.approx(direct.latency_ms)
    low, high = teacher.latency_interval_ms
    assert low < teacher.latency_ms < high and teacher.energy_mj == pytest.approx(5.4 * teacher.latency_ms)
    assert "xnnpack-readme-raspberry-pi" in teacher.basis and "chipwired" in teacher.power_basis
    # The Coral runs int8 only: the float teacher has no estimate there, and says why.
    assert found[("teacher_float32", "coral-usb")].estimate is None
    assert "runs only int8" in found[("teacher_float32", "coral-usb")].reason
    assert found[("student_int8", "coral-usb")].estimate is not None
    # The phone has no watts: latency without energy. The nRF52840 runs the M4 board's cycles, with its power.
    assert found[("student_int8", "pixel4")].estimate.energy_mj is None
    nano = found[("student_int8", "nano33ble")].estimate
    assert nano.energy_mj is not None and "not on nano33ble" in nano.power_basis
    answer = compute_answer(document())
    rpi4 = next(line for line in answer if line.startswith("On rpi4 (estimated"))
    # One short line per device: the figures and the ratio; the long basis goes to the report and --json.
    assert "teacher ÷ student" in rpi4 and "floor" in rpi4 and len(rpi4) < 400
    assert "below every published model" in rpi4, "the demo-sized models are far below every published one"
    (basis,) = [line for line in basis_lines(document()) if line.startswith("rpi4:")]
    assert "xnnpack-readme-raspberry-pi" in basis and "held-out error median" in basis and "rpi4-tflite" in basis
    coral = next(line for line in answer if line.startswith("On coral-usb"))
    assert "int8 only" in coral and "dominates" in coral
    for device in ("rpi4", "coral-usb", "nano33ble", "pixel4"):
        student = found[("student_int8", device)].estimate
        assert student.floor_ms is not None and student.latency_ms >= student.floor_ms, device
    # Where the floor is not known (a Pi 3B+: XNNPACK's published models are all large), the ratio is a bound.
    from edgekd.results.answer import estimate_lines

    pi3 = estimate_lines(document(), ("rpi3bplus",))[0]
    assert "teacher ÷ student at most" in pi3 and "not known" in pi3


def test_the_answer_for_json_carries_every_estimate_with_its_basis():
    from edgekd.results.answer import answer_document

    carried = answer_document(document())
    assert carried["lines"] == compute_answer(document())
    rows = {(row["device"], row["model"]): row for row in carried["estimates"]}
    assert (
        "basis" in rows[("rpi4", "student_int8")]["estimate"] and rows[("rpi4", "student_int8")]["estimate"]["floor_ms"]
    )
    assert rows[("coral-usb", "teacher_float32")]["estimate"] is None
    assert "runs only int8" in rows[("coral-usb", "teacher_float32")]["reason"]


def test_a_record_without_workload_or_a_device_without_calibration_says_so_in_one_line():
    from edgekd.results.estimates import estimate_record

    old = {**MODELS["student_int8"]}
    del old["workload"]
    assert "holds no per-class workload" in estimate_record("student_int8", old, "rpi4").reason
    from edgekd.results.answer import estimate_lines

    (line,) = estimate_lines(document(), ("galaxy-a52",))
    assert line.startswith("On galaxy-a52: no estimate (") and "no calibration" in line
    assert not re.search(r"\d\s*(ms|µs|mJ)", line), "a device without calibration prints no figure"


def test_cost_per_million_where_a_profile_gives_a_price(tmp_path, monkeypatch):
    assert cost_lines(document()) == [], "the built-in host profile gives no price"
    from edgekd.profiles.loader import get_profile

    folder = tmp_path / "devices"
    folder.mkdir()
    priced = get_profile("host").path.read_text() + 'cost: {hourly_usd: 0.0816, source: "a price list, 2026-06"}\n'
    (folder / "host.yaml").write_text(priced)
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))
    (line,) = cost_lines(document())
    # The int8 student's p50 is 1 µs: a million inferences take 1 s, at $0.0816/h $0.0000227; the teacher's 10 µs.
    assert "student int8 $0.000023" in line and "teacher float32 $0.000227" in line
    assert "price $0.0816/h from a price list, 2026-06" in line and "throughput measured" in line


def test_the_demo_ends_with_the_answer(quick_demo):
    out, _, printed = quick_demo
    assert "The compute answer:" in printed and "teacher : student ratio" in printed
    assert "per-invoke floor of a one-op model" in printed and "x86 int8 kernels are not ARM's" in printed
    report = (out / "report.md").read_text()
    assert "## The compute answer" in report and "What each estimate stands on:" in report
    assert "held-out error median" in report and "held-out error median" not in printed
