"""The compute answer every run ends with: measured on the host, estimated on profiles, with its sources."""

from __future__ import annotations

import pytest

from edgekd.results.answer import X86_INT8_NOTE, compute_answer, cost_lines, estimates, host_line

MODELS = {
    "teacher_float32": {"macs": 340_480, "detected_mode": "float32"},
    "student_float32": {"macs": 14_530, "detected_mode": "float32"},
    "student_int8": {"macs": 14_530, "detected_mode": "int8"},
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


def test_estimates_come_from_each_profile_throughput_and_watts():
    found = {(e.role, e.device): e for e in estimates(document())}
    # rpi4: 340,480 MACs at 6.5e9 float MACs/s is 52.4 µs; at 5.4 W active, 0.283 mJ.
    teacher = found[("teacher_float32", "rpi4")]
    assert teacher.latency_ms == pytest.approx(340_480 / 6.5e9 * 1e3) and teacher.energy_mj == pytest.approx(
        5.4 * 340_480 / 6.5e9 * 1e3
    )
    assert "XNNPACK README" in teacher.source and "chipwired" in teacher.source
    # The Coral runs int8 only; the phone has no watts: latency without energy.
    assert ("teacher_float32", "coral-usb") not in found and ("student_int8", "coral-usb") in found
    assert found[("student_int8", "pixel4")].energy_mj is None
    answer = compute_answer(document())
    assert any(line.startswith("On rpi4 (estimated from the profile's MACs per second") for line in answer)


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
    assert "## The compute answer" in (out / "report.md").read_text()
