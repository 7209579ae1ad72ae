"""The device latency model: calibration data, the fit, leave-one-model-out validation, and estimates.

Synthetic points generated from known parameters check that the fit recovers them; the
shipped data is checked for sources and for a held-out table that is computed from it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from edgekd.modelfile.workload import CLASSES, SplitWorkload, Workload
from edgekd.profiles.calibration import CalibrationError, builtin_calibration, load_calibration
from edgekd.profiles.estimate import NoEstimate, estimate
from edgekd.profiles.fit import fit
from edgekd.profiles.loader import discover
from edgekd.profiles.validation import device_table, leave_one_model_out, validate_calibration

TRUE_WEIGHTS = {"conv": 1.0, "depthwise": 4.0, "fully_connected": 0.6, "pooling": 2.0, "elementwise": 1.5}
# CPUs get no floor (see edgekd.profiles.fit); the Edge TPU test below recovers one.
TRUE_DEVICES = {"fast": (0.0, {"int8": 2e-8, "float32": 6e-8}), "slow": (0.0, {"int8": 9e-8})}


def _work(rng) -> dict[str, int]:
    """Work per class from a thousand to a hundred million units: small models show the floor, large ones the costs."""
    return {name: int(10 ** rng.uniform(3, 8)) for name in CLASSES}


def _latency(device: str, precision: str, work: dict[str, int]) -> float:
    floor, scales = TRUE_DEVICES[device]
    return floor + scales[precision] * sum(TRUE_WEIGHTS[c] * work[c] for c in CLASSES)


def write_calibration(folder, points, models, devices=None, sources=None, weight_bytes=None, libraries=None, ops=None):
    """measurements.yaml and models.yaml in ``folder`` from plain lists and dicts."""
    folder.mkdir(parents=True, exist_ok=True)
    devices = devices or {
        name: {"description": name, "kind": "cpu", "core": "x", "library": "lib"} for name in TRUE_DEVICES
    }
    measurements = {
        "schema_version": 1,
        "sources": sources if sources is not None else {"paper": {"cite": "a made-up paper, for the test"}},
        "devices": devices,
        "libraries": libraries or {},
        "points": points,
    }
    (folder / "measurements.yaml").write_text(yaml.safe_dump(measurements))
    counts = {
        name: {
            "architecture": name,
            "macs": sum(work.values()),
            "total": {
                "work": work,
                "ops": (ops or {}).get(name, 10),
                "weight_bytes": (weight_bytes or {}).get(name, 0),
            },
        }
        for name, work in models.items()
    }
    (folder / "models.yaml").write_text(yaml.safe_dump({"schema_version": 1, "models": counts}))
    return folder


@pytest.fixture
def synthetic(tmp_path):
    rng = np.random.default_rng(7)
    models = {f"m{i}": _work(rng) for i in range(10)}
    points = [
        {"device": device, "model": model, "precision": precision, "latency_ms": _latency(device, precision, work),
         "source": "paper"}
        for device, (_, scales) in TRUE_DEVICES.items()
        for precision in scales
        for model, work in models.items()
    ]  # fmt: skip
    return write_calibration(tmp_path / "calibration", points, models), models


def test_the_fit_recovers_known_parameters_from_synthetic_points(synthetic):
    folder, _ = synthetic
    fitted = fit(load_calibration(folder))
    group = fitted.groups["lib"]
    for name, value in TRUE_WEIGHTS.items():
        assert group.weights[name] == pytest.approx(value, rel=0.05), name
    for device, (_, scales) in TRUE_DEVICES.items():
        assert group.devices[device].floor == 0 and not group.devices[device].floor_fitted
        for precision, scale in scales.items():
            assert group.devices[device].scales[precision] == pytest.approx(scale, rel=0.05)


def test_an_edge_tpu_fit_recovers_its_floor_and_the_cost_of_streamed_weights(tmp_path):
    from edgekd.profiles.fit import EDGETPU_CACHE_BYTES

    rng = np.random.default_rng(3)
    models, points, weight_bytes = {}, [], {}
    for i in range(8):
        macs, weights = int(10 ** rng.uniform(6, 10)), int(10 ** rng.uniform(5, 8.3))
        models[f"m{i}"], weight_bytes[f"m{i}"] = {"conv": macs, **dict.fromkeys(CLASSES[1:], 0)}, weights
        latency = 2.0 + 5e-10 * (macs + 3500 * max(0, weights - EDGETPU_CACHE_BYTES))
        points.append(
            {"device": "tpu", "model": f"m{i}", "precision": "int8", "latency_ms": latency, "source": "paper"}
        )
    devices = {"tpu": {"description": "tpu", "kind": "edgetpu", "core": "x", "library": "edgetpu"}}
    folder = write_calibration(tmp_path / "tpu", points, models, devices, weight_bytes=weight_bytes)
    group = fit(load_calibration(folder)).groups["edgetpu@tpu"]
    assert group.devices["tpu"].floor == pytest.approx(2.0, rel=0.05)
    assert group.weights["streamed_bytes"] == pytest.approx(3500, rel=0.05)


def _small_models(rng, count: int = 16) -> tuple[dict, dict]:
    """Models from a few thousand to tens of millions of MACs, with 3 to 120 ops: small ones show the floor."""
    models, ops = {}, {}
    for i in range(count):
        models[f"s{i}"] = {name: int(10 ** rng.uniform(2.5, 7.5)) for name in CLASSES}
        ops[f"s{i}"] = int(rng.integers(3, 120))
    return models, ops


# Per-op and per-invoke costs in MAC-equivalents of the library (per op: 40,000; per invoke: 150,000).
TRUE_FLOOR = {"ops": 4e4, "invoke": 1.5e5}


def _with_floor(device: str, precision: str, work: dict[str, int], ops: int) -> float:
    """The op classes at the precision's scale; the per-op and per-invoke costs at the int8 scale, in any precision."""
    return _latency(device, precision, work) + TRUE_DEVICES[device][1]["int8"] * (
        TRUE_FLOOR["ops"] * ops + TRUE_FLOOR["invoke"]
    )


def test_the_fit_recovers_per_op_and_per_invoke_costs_where_the_library_fits_them(tmp_path):
    models, ops = _small_models(np.random.default_rng(11))
    points = [
        {"device": device, "model": model, "precision": precision, "latency_ms": _with_floor(device, precision, work,
         ops[model]), "source": "paper"}
        for device, (_, scales) in TRUE_DEVICES.items()
        for precision in scales
        for model, work in models.items()
    ]  # fmt: skip
    libraries = {"lib": {"floor": True, "note": "small models show it"}}
    fitted = fit(load_calibration(write_calibration(tmp_path / "f", points, models, libraries=libraries, ops=ops)))
    group = fitted.groups["lib"]
    assert group.floor_terms
    for name, value in {**TRUE_WEIGHTS, **TRUE_FLOOR}.items():
        assert group.weights[name] == pytest.approx(value, rel=0.05), name
    # The floor of a 5-op model on the slow device, in ms: its scale times the library's per-op and per-invoke costs.
    x = np.array([0, 0, 0, 0, 0, 5, 1.0])
    expected = TRUE_DEVICES["slow"][1]["int8"] * (5 * TRUE_FLOOR["ops"] + TRUE_FLOOR["invoke"])
    assert fitted.floor("slow", "int8", x) == pytest.approx(expected, rel=0.05)
    fast = TRUE_DEVICES["fast"][1]["int8"] * (5 * TRUE_FLOOR["ops"] + TRUE_FLOOR["invoke"])
    assert fitted.floor("fast", "float32", x) == pytest.approx(fast, rel=0.05), "one floor in every precision"
    # Without the library's floor fitted, the same points leave the floor unknown.
    unfitted = fit(load_calibration(write_calibration(tmp_path / "u", points, models, ops=ops)))
    assert unfitted.floor("slow", "int8", x) is None


def test_a_device_takes_its_floor_from_another_on_the_same_board(tmp_path):
    small, ops = _small_models(np.random.default_rng(5))
    large = {f"big{i}": {name: int(10 ** np.random.default_rng(i).uniform(8, 9)) for name in CLASSES} for i in range(6)}
    points = [
        {"device": "fast", "model": model, "precision": "int8", "latency_ms": _with_floor("fast", "int8", work,
         ops[model]), "source": "paper"}
        for model, work in small.items()
    ]  # fmt: skip
    # The other runtime on the same board: large models only, each with the first runtime's floor on top.
    for model, work in large.items():
        floor = TRUE_DEVICES["fast"][1]["int8"] * (10 * TRUE_FLOOR["ops"] + TRUE_FLOOR["invoke"])
        points.append({"device": "other", "model": model, "precision": "int8", "source": "paper",
                       "latency_ms": floor + 3e-8 * sum(TRUE_WEIGHTS[c] * work[c] for c in CLASSES)})  # fmt: skip
    devices = {
        "fast": {"description": "fast", "kind": "cpu", "core": "x", "library": "lib"},
        "other": {"description": "other", "kind": "cpu", "core": "x", "library": "lib2", "floor_from": "fast"},
    }
    libraries = {"lib": {"floor": True, "note": "small models"}}
    fitted = fit(
        load_calibration(
            write_calibration(tmp_path / "c", points, {**small, **large}, devices, libraries=libraries,
                              ops={**ops, **dict.fromkeys(large, 10)})
        )
    )  # fmt: skip
    tiny = np.array([0, 0, 0, 0, 0, 10, 1.0])
    assert fitted.floor("other", "int8", tiny) == pytest.approx(fitted.floor("fast", "int8", tiny))
    assert fitted.predict("other", "int8", tiny) == pytest.approx(fitted.floor("fast", "int8", tiny), rel=1e-3)


def test_held_out_predictions_of_exact_points_are_near_exact(synthetic):
    folder, _ = synthetic
    held_out = leave_one_model_out(load_calibration(folder))
    assert len(held_out) == 10 * 3
    errors = [v.error for v in held_out]
    assert np.median(errors) < 0.03 and max(errors) < 0.15


def test_the_held_out_table_is_computed_from_the_points_not_typed(synthetic, tmp_path):
    folder, models = synthetic
    rows, _ = device_table(load_calibration(folder))
    before = {r["device"]: r["median_error"] for r in rows}
    document = yaml.safe_load((folder / "measurements.yaml").read_text())
    for point in document["points"]:
        if point["device"] == "slow" and point["model"] in ("m0", "m3", "m5"):
            point["latency_ms"] *= 1.6
    (folder / "measurements.yaml").write_text(yaml.safe_dump(document))
    rows, held_out = device_table(load_calibration(folder))
    after = {r["device"]: r["median_error"] for r in rows}
    assert after["slow"] > before["slow"] + 0.05
    assert after["slow"] == pytest.approx(np.median([v.error for v in held_out if v.device == "slow"]))


def test_every_shipped_point_has_a_source_and_a_positive_latency():
    calibration = builtin_calibration()
    assert len(calibration.points) >= 40
    for point in calibration.points:
        assert calibration.sources[point.source].cite.strip(), point
        assert point.latency_ms > 0
        assert point.model in calibration.models and point.device in calibration.devices


def test_every_device_with_four_points_is_validated_in_the_shipped_table():
    rows, _ = device_table(builtin_calibration())
    for row in rows:
        if row["points"] >= 4:
            assert row["held_out"] >= 3 and row["median_error"] is not None, row["device"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("source"), "names its source"),
        (lambda p: p.update(source="nowhere"), "source 'nowhere' is not defined"),
        (lambda p: p.update(latency_ms=0), "latency_ms must be a positive number"),
        (lambda p: p.update(latency_ms=-3.0), "latency_ms must be a positive number"),
        (lambda p: p.update(model="resnet-9000"), "model 'resnet-9000' has no counts"),
        (lambda p: p.update(device="rpi9"), "device 'rpi9' is not defined"),
    ],
)
def test_a_bad_point_is_refused_with_the_point_named(synthetic, change, message):
    folder, _ = synthetic
    document = yaml.safe_load((folder / "measurements.yaml").read_text())
    change(document["points"][3])
    (folder / "measurements.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(CalibrationError, match=message):
        load_calibration(folder)


def test_a_device_without_points_is_too_few_to_fit(synthetic):
    folder, _ = synthetic
    document = yaml.safe_load((folder / "measurements.yaml").read_text())
    document["points"] = [p for p in document["points"] if p["device"] != "slow"]
    (folder / "measurements.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(CalibrationError, match="too few points to fit"):
        load_calibration(folder)


def _split(work: dict[str, int]) -> SplitWorkload:
    return SplitWorkload(Workload(work, 12, 10_000, 500))


def test_a_profile_without_calibration_gets_no_estimate_in_one_line():
    profile = discover()["galaxy-a52"].profile
    with pytest.raises(NoEstimate, match="no calibration") as caught:
        estimate(profile, _split(dict.fromkeys(CLASSES, 1000)), "int8")
    assert "\n" not in str(caught.value)


def test_an_estimate_has_an_interval_a_basis_and_never_less_than_the_floor():
    profiles = discover()
    tiny = dict.fromkeys(CLASSES, 100)
    for name in ("rpi4", "nano33ble", "stm32h7", "pixel4"):
        found = estimate(profiles[name].profile, _split(tiny), "int8")
        low, high = found.latency_interval_ms
        assert low < found.latency_ms < high
        assert "published point" in found.basis and "held-out error" in found.basis
        if found.floor_ms is not None:
            assert found.latency_ms >= found.floor_ms


def test_a_microcontroller_runs_the_calibrated_cycles_at_its_own_clock():
    profiles = discover()
    nano = profiles["nano33ble"].profile
    quick = nano.model_copy(update={"hardware": nano.hardware.model_copy(update={"clock_ghz": 0.128})})
    work = _split({"conv": 2_000_000, "depthwise": 300_000, "fully_connected": 1000, "pooling": 8000, "elementwise": 0})
    slow_ms = estimate(nano, work, "int8").latency_ms
    assert estimate(quick, work, "int8").latency_ms == pytest.approx(slow_ms / 2)


def test_the_validation_of_the_shipped_data_is_reproducible():
    first, second = validate_calibration(builtin_calibration()), validate_calibration(builtin_calibration())
    assert [v.predicted_ms for v in first.held_out] == [v.predicted_ms for v in second.held_out]


def _measured_run(device: str, latencies: dict[str, float]) -> dict:
    """A results document: models of growing size measured on ``device`` (p50 in ms), with their workloads."""
    models, benchmarks = {}, []
    for index, (name, p50) in enumerate(latencies.items(), 1):
        work = {"conv": 2_000_000 * index**2, "depthwise": 100_000 * index, "fully_connected": 5000, "pooling": 0}
        work["elementwise"] = 1000
        total = {"work": work, "ops": 5 + index, "weight_bytes": 1000, "io_bytes": 100}
        models[name] = {"format": "tflite (int8)", "detected_mode": "int8", "macs": sum(work.values()),
                        "workload": {"total": total}}  # fmt: skip
        benchmarks.append({"model": name, "device": device, "ok": True, "latency_ms": {"p50": p50}})
    return {"schema_version": 1, "kind": "bench", "models": models, "benchmarks": benchmarks}


def test_devices_calibrate_fits_the_users_runs_and_estimates_then_stand_on_them(tmp_path, monkeypatch):
    import json

    from edgekd.results.compare import build_rows
    from tests.conftest import invoke

    monkeypatch.setenv("EDGEKD_CALIBRATION", str(tmp_path / "mine"))
    run = tmp_path / "run.json"
    run.write_text(json.dumps(_measured_run("rpi4", {"a": 1.2, "b": 3.1, "c": 6.4, "d": 11.0})))
    result = invoke("devices", "calibrate", "rpi4", "--from", str(run))
    assert result.exit_code == 0, result.stderr
    stored = tmp_path / "mine" / "rpi4.yaml"
    assert stored.is_file() and "Stored as yours" in result.stdout
    saved = yaml.safe_load(stored.read_text())
    assert saved["points"] == 4 and len(saved["held_out_errors"]) == 4 and saved["floor_fitted"]
    # The built-in calibration is untouched, and the estimate on rpi4 now says whose it is.
    assert "rpi4" in builtin_calibration().devices
    work = _measured_run("rpi4", {"a": 1.0, "b": 1.0})["models"]["b"]["workload"]
    from edgekd.modelfile.workload import split_from_dict

    found = estimate(discover()["rpi4"].profile, split_from_dict(work), "int8")
    assert found.basis.startswith("your calibration of rpi4") and found.latency_ms == pytest.approx(3.1, rel=0.3)
    # A measured row shows the estimate beside it, and how far it was off.
    rows = build_rows([("run", json.loads(run.read_text()))])
    assert all(r.estimated_ms is not None and r.estimate_error is not None for r in rows)


def test_inspect_carries_the_estimate_and_a_device_without_calibration_says_so(int8_model_file):
    import json

    from tests.conftest import invoke

    document = json.loads(invoke("inspect", str(int8_model_file), "--device", "nano33ble", "--json").stdout)
    found = document["estimate"]
    assert {"latency_ms", "latency_interval_ms", "energy_mj", "energy_interval_mj", "basis"} <= set(found)
    low, high = found["latency_interval_ms"]
    assert low <= found["latency_ms"] <= high and found["energy_mj"] > 0 and "stm32l4r5-tflm" in found["basis"]
    bare = json.loads(invoke("inspect", str(int8_model_file), "--device", "galaxy-a52", "--json").stdout)
    assert bare["estimate"] is None and "no calibration" in bare["estimate_unavailable"]
    text = invoke("inspect", str(int8_model_file), "--device", "galaxy-a52").stdout
    (line,) = [line for line in text.splitlines() if line.strip().startswith("estimate")]
    assert "no calibration" in line and not re.search(r"\d\s*(ms|µs)\b", line)
