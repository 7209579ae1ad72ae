"""A user's own calibration of a device, fitted from their benchmark runs: ``edgekd devices calibrate NAME --from RUN``.

Each run's benchmarks on the device give measured p50 latencies of models whose work per
operator class the run recorded; the fit keeps the relative op costs of the device's kernel
library from the built-in calibration and fits this device's floor and per-precision scale
(``edgekd.profiles.fit``). The result is the user's, stored in ``~/.edgekd/calibration/NAME.yaml``
(``$EDGEKD_CALIBRATION`` names another folder), never in the built-in data: estimates on
NAME then stand on it, and say so. Nothing is written when the runs do not support a fit.
"""

from __future__ import annotations

import datetime
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edgekd.artifacts import write_text_atomic
from edgekd.modelfile.workload import split_from_dict
from edgekd.profiles.calibration import PRECISIONS, CalibrationError, precision_of
from edgekd.profiles.fit import FLOOR_FEATURES, PRIOR, _fit_device, feature_names, features
from edgekd.profiles.schema import DeviceProfile
from edgekd.validation import parse_yaml_mapping, read_text_file

MIN_POINTS = 2
SCHEMA_VERSION = 1


def user_folder() -> Path:
    configured = os.environ.get("EDGEKD_CALIBRATION")
    return Path(configured).expanduser() if configured else Path.home() / ".edgekd" / "calibration"


@dataclass(frozen=True)
class MeasuredPoint:
    run: str
    model: str
    precision: str
    latency_ms: float
    work: np.ndarray


@dataclass(frozen=True)
class UserCalibration:
    device: str
    kind: str
    weights: dict[str, float]
    floor_ms: float
    floor_fitted: bool
    scales: dict[str, float]
    errors: tuple[float, ...]
    runs: tuple[str, ...]
    points: int
    fitted_on: str

    def predict_ms(self, precision: str, x: np.ndarray) -> float | None:
        if precision not in self.scales:
            return None
        weights = np.array([self.weights[n] for n in feature_names(self.kind)])
        return self.floor_ms + self.scales[precision] * float(weights @ x)

    def as_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "device": self.device,
            "kind": self.kind,
            "weights": self.weights,
            "floor_ms": self.floor_ms,
            "floor_fitted": self.floor_fitted,
            "scales": self.scales,
            "held_out_errors": list(self.errors),
            "runs": list(self.runs),
            "points": self.points,
            "fitted_on": self.fitted_on,
        }


def _library_weights(profile: DeviceProfile) -> tuple[str, dict[str, float]]:
    """The kind and relative op costs the user's fit keeps: the built-in calibration's, or the prior."""
    from edgekd.profiles.validation import builtin_validated

    if profile.estimate is None:
        return "cpu", dict(PRIOR)
    found = builtin_validated().fit.device(profile.estimate.calibration)
    if found is None:
        return "cpu", dict(PRIOR)
    group = found[0]
    if group.kind == "edgetpu":
        raise CalibrationError(
            f"{profile.name}: an Edge TPU's own calibration from runs is not supported (its costs depend on what "
            "the compiler mapped, which the runs do not record)"
        )
    return group.kind, dict(group.weights)


def measured_points(profile: DeviceProfile, documents: list[tuple[str, dict]]) -> list[MeasuredPoint]:
    """The runs' measured benchmarks on ``profile``, each with its model's recorded workload."""
    points, elsewhere = [], set()
    for run, document in documents:
        models = document.get("models") or {}
        for bench in document.get("benchmarks") or []:
            if bench.get("device") != profile.name:
                elsewhere.add(str(bench.get("device")))
                continue
            p50 = (bench.get("latency_ms") or {}).get("p50")
            if not bench.get("ok") or not p50 or bench.get("latency_source", "measured") != "measured":
                continue
            record = models.get(bench.get("model")) or _file_record(bench.get("path"))
            precision = precision_of(record.get("detected_mode", record.get("mode")))
            if not record.get("workload") or precision is None:
                continue
            work = features("cpu", split_from_dict(record["workload"]).total)
            points.append(MeasuredPoint(run, bench["model"], precision, float(p50), work))
    if not points and elsewhere:
        raise CalibrationError(
            f"the runs measured {', '.join(sorted(elsewhere))}, not {profile.name}: nothing to calibrate "
            f"{profile.name} from; give runs that benchmarked it (`edgekd bench MODEL --device {profile.name}`)"
        )
    return points


def _file_record(path: str | None) -> dict:
    """A benchmarked file's mode and workload, read from the file itself (``edgekd bench`` runs hold no records)."""
    from edgekd.errors import EdgekdError
    from edgekd.inputs import read_regular_file
    from edgekd.modelfile.checks import detected_mode
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.modelfile.workload import workload

    if not path or not Path(path).is_file():
        return {}
    try:
        report = inspect_tflite(read_regular_file(Path(path), "model", CalibrationError), path)
    except EdgekdError:
        return {}
    return {"detected_mode": detected_mode(report), "workload": workload(report).as_dict()}


def fit_user(profile: DeviceProfile, points: list[MeasuredPoint], runs: list[str]) -> UserCalibration:
    """Fit floor and scales to the measured points, with leave-one-model-out errors; refuse too few points."""
    distinct = {(p.model, p.precision) for p in points}
    if len(distinct) < MIN_POINTS:
        raise CalibrationError(
            f"too few points to fit {profile.name}: {len(distinct)} measured model(s) with a recorded workload in "
            f"the runs; at least {MIN_POINTS} are needed (benchmark more models of different sizes, made by this "
            "edgekd so their records hold their workload)"
        )
    kind, weights = _library_weights(profile)
    vector = np.array([weights[n] for n in feature_names(kind)])
    rows = [(profile.name, p.precision, p.work, p.latency_ms) for p in points]
    fitted = _fit_device(profile.name, rows, vector)
    errors = []
    for model in sorted({p.model for p in points}):
        rest = [r for r, p in zip(rows, points, strict=True) if p.model != model]
        if len({(r[1], r[0]) for r in rest}) == 0:
            continue
        held = _fit_device(profile.name, rest, vector)
        for point in (p for p in points if p.model == model):
            if point.precision in held.scales:
                predicted = held.floor + held.scales[point.precision] * float(vector @ point.work)
                errors.append(abs(predicted - point.latency_ms) / point.latency_ms)
    return UserCalibration(
        profile.name,
        kind,
        weights,
        fitted.floor,
        fitted.floor_fitted,
        fitted.scales,
        tuple(errors),
        tuple(runs),
        len(points),
        datetime.date.today().isoformat(),
    )


def save(calibration: UserCalibration) -> Path:
    path = user_folder() / f"{calibration.device}.yaml"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalibrationError(
            f"cannot create {path.parent} for your calibration ({exc.strerror}); set $EDGEKD_CALIBRATION to a folder "
            "you can write"
        ) from None
    write_text_atomic(path, yaml.safe_dump(calibration.as_dict(), sort_keys=False), replace=True)
    return path


def load_user(name: str) -> UserCalibration | None:
    """The user's calibration of ``name``, or None; a damaged file is an error naming it."""
    path = user_folder() / f"{name}.yaml"
    if not path.is_file():
        return None
    document = parse_yaml_mapping(
        read_text_file(path, CalibrationError, "calibration"), str(path), CalibrationError, "a calibration"
    )
    try:
        kind = document["kind"]
        return UserCalibration(
            document["device"],
            kind,
            # Calibrations written before the per-op and per-invoke costs existed hold no weight for them: zero.
            {n: float(document["weights"].get(n, 0.0 if n in FLOOR_FEATURES else None)) for n in feature_names(kind)},
            float(document["floor_ms"]),
            bool(document["floor_fitted"]),
            {p: float(v) for p, v in document["scales"].items() if p in PRECISIONS},
            tuple(float(e) for e in document.get("held_out_errors") or ()),
            tuple(str(r) for r in document.get("runs") or ()),
            int(document.get("points", 0)),
            str(document.get("fitted_on", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError(
            f"{path}: not a calibration edgekd wrote ({type(exc).__name__}: {exc}); run `edgekd devices calibrate "
            f"{name} --from RUN` again, or delete the file"
        ) from None


def median_error(calibration: UserCalibration) -> float | None:
    return statistics.median(calibration.errors) if calibration.errors else None
