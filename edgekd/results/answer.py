"""The compute answer a run ends with: how much faster the student is, here (measured) and elsewhere (estimated).

From a finished run's document: the host's measured p50 of teacher, float student and int8
student as a ratio; how much of the smallest model's latency is the per-invoke floor; the
estimated latency and energy per inference on a Pi 4, a phone, the Coral USB and an
nRF52840 from each device's calibration (published points, an interval from the held-out
error, and the basis), with the teacher : student ratio there; and,
where a profile gives an hourly price, the cost per million inferences at the measured
throughput. Pure arithmetic on the document and the profiles: nothing runs here.
"""

from __future__ import annotations

from edgekd.bench.overhead import OVERHEAD_DOMINATES
from edgekd.profiles.estimate import describe
from edgekd.readable import readable_time
from edgekd.results.estimates import RecordEstimate, estimate_record

# Devices estimated at the end of every run: a single-board computer, a phone, an accelerator, a microcontroller.
ESTIMATED_ON = ("rpi4", "pixel4", "coral-usb", "nano33ble")
ROLES = ("teacher_float32", "student_float32", "student_int8")
X86_INT8_NOTE = (
    "x86 int8 kernels are not ARM's: the int8 speed-up measured on an x86 host does not carry over to a phone or "
    "a Pi (nor does its absence); measure on the device, or on `rpi5-emulated` for the ARM runtime's outputs"
)


def _dollars(value: float) -> str:
    return f"${value:.6f}" if value < 1 else f"${value:,.2f}"


def host_line(document: dict, device: str = "host") -> list[str]:
    """The measured ratio teacher : float student : int8 student on ``device``, and the floor's share."""
    measured = {
        b["model"]: b
        for b in document.get("benchmarks") or []
        if b.get("device") == device and b.get("ok") and (b.get("latency_ms") or {}).get("p50")
    }
    present = [role for role in ROLES if role in measured]
    if len(present) < 2:
        return []
    p50 = {role: measured[role]["latency_ms"]["p50"] for role in present}
    fastest = min(p50.values())
    figures = ", ".join(f"{role.replace('_', ' ')} {readable_time(p50[role])}" for role in present)
    ratio = " : ".join(f"{p50[role] / fastest:.3g}" for role in present)
    lines = [f"On {device} (measured, p50): {figures}; teacher : student ratio {ratio}."]
    smallest = min(present, key=lambda role: p50[role])
    floor = measured[smallest].get("invoke_overhead")
    if floor and floor.get("share_of_p50") is not None:
        share = floor["share_of_p50"]
        verdict = (
            "overhead dominates: the answer for a model this small is the interpreter's fixed cost, not its MACs"
            if share >= OVERHEAD_DOMINATES
            else "the arithmetic dominates"
        )
        lines.append(
            f"Of the {smallest.replace('_', ' ')}'s {readable_time(p50[smallest])}, {readable_time(floor['p50_ms'])} "
            f"({100 * share:.0f}%) is the per-invoke floor of a one-op model (measured); {verdict}."
        )
    if any(b.get("runner") == "local" and not b.get("emulated_of") for b in measured.values()):
        lines.append(f"Note: {X86_INT8_NOTE}.")
    return lines


def estimates(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> list[RecordEstimate]:
    """Each .tflite of the run on each device, from the device's calibration (or the reason there is none)."""
    models = document.get("models") or {}
    return [
        estimate_record(role, models[role], device)
        for device in devices
        for role in ROLES
        if role in models and str(models[role].get("format", "")).startswith("tflite")
    ]


def estimate_lines(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> list[str]:
    """One short line per device: each model's calibrated estimate with its interval, and the teacher ÷ student
    ratio there (a bound where the device's floor is not known); a device without calibration says so."""
    lines = []
    for device, found in _by_device(document, devices).items():
        known = [f for f in found if f.estimate is not None]
        if not known:
            reasons = sorted({f.reason for f in found if f.reason})
            lines.append(f"On {device}: no estimate ({'; '.join(reasons)}).")
            continue
        measured = _measured(document, device)
        figures = ", ".join(
            f"{f.role.replace('_', ' ')} {describe(f.estimate)}"
            + (
                f" (measured {readable_time(measured[f.role])}, "
                f"{100 * (f.estimate.latency_ms / measured[f.role] - 1):+.0f}%)"
                if f.role in measured
                else ""
            )
            for f in known
        )
        only = sorted({f.reason.split(" runs only ", 1)[1] for f in found if f.reason and " runs only " in f.reason})
        label = "estimated" + (f", {only[0]} only" if len(only) == 1 else "")
        if any(f.estimate.outside_range for f in known):
            label += ", below every published model"
        line = f"On {device} ({label}): {figures}"
        ratio = _ratio(known)
        lines.append(line + (f"; {ratio}." if ratio else "."))
    if lines and any("(estimated" in line for line in lines):
        lines.append(
            "Estimates stand on published measurements (intervals from their held-out error); each one's basis "
            "(points, runtime, floor, power) is in report.md and under compute_answer in --json."
        )
    return lines


def _by_device(document: dict, devices: tuple[str, ...]) -> dict[str, list[RecordEstimate]]:
    by_device: dict[str, list[RecordEstimate]] = {}
    for found in estimates(document, devices):
        by_device.setdefault(found.device, []).append(found)
    return by_device


def _measured(document: dict, device: str) -> dict[str, float]:
    return {
        b["model"]: b["latency_ms"]["p50"]
        for b in document.get("benchmarks") or []
        if b.get("device") == device and b.get("ok") and (b.get("latency_ms") or {}).get("p50")
        and b.get("latency_source", "measured") == "measured"
    }  # fmt: skip


def _ratio(known: list[RecordEstimate]) -> str:
    """The teacher ÷ student ratio there: a figure where the floor is known, a bound where it is not."""
    by_role = {f.role: f.estimate for f in known}
    teacher, student = by_role.get("teacher_float32"), by_role.get("student_int8") or by_role.get("student_float32")
    share = (
        f"{100 * student.floor_ms / student.latency_ms:.0f}% of the student's estimate"
        if student is not None and student.floor_ms is not None
        else ""
    )
    dominates = (
        student is not None
        and student.floor_ms is not None
        and (student.floor_ms >= OVERHEAD_DOMINATES * student.latency_ms)
    )
    if teacher is None or student is None:
        if not share:
            return ""
        return f"the floor dominates ({share})" if dominates else f"the floor is {share}"
    ratio = teacher.latency_ms / student.latency_ms
    if student.floor_ms is None or teacher.floor_ms is None:
        return (
            f"teacher ÷ student at most {ratio:.2g}x (the per-invoke floor there is not known: no published model "
            "is small enough to show it, and it can only lower the ratio)"
        )
    text = f"teacher ÷ student {ratio:.2g}x"
    return f"{text}: the floor dominates ({share})" if dominates else f"{text} (the floor is {share})"


def answer_document(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> dict:
    """The compute answer for ``--json``: its lines, and each estimate in full (interval, floor, basis, power)."""
    return {
        "lines": compute_answer(document),
        "estimates": [
            {
                "device": f.device,
                "model": f.role,
                "estimate": f.estimate.as_dict() if f.estimate else None,
                "reason": f.reason,
            }
            for f in estimates(document, devices)
        ],  # fmt: skip
    }


def basis_lines(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> list[str]:
    """The long basis of each device's estimates, for report.md and report.html (one line per device)."""
    lines = []
    for device, found in _by_device(document, devices).items():
        known = [f.estimate for f in found if f.estimate is not None]
        if not known:
            continue
        first = known[0]
        line = f"{device}: {first.basis}."
        floors = [f"{r.role.replace('_', ' ')} {readable_time(r.estimate.floor_ms)}" for r in found
                  if r.estimate is not None and r.estimate.floor_ms is not None]  # fmt: skip
        if floors:
            line += f" Per-invoke floor in each estimate: {', '.join(floors)}."
        if first.power_basis:
            line += f" Energy: estimated latency x {first.power_basis}."
        lines.append(line)
    return lines


def cost_lines(document: dict, device: str = "host") -> list[str]:
    """Cost per million inferences at the measured single-stream throughput, where the profile gives a price."""
    from edgekd.errors import ProfileError
    from edgekd.profiles.loader import get_profile

    try:
        cost = get_profile(device).profile.cost
    except ProfileError:
        return []
    if cost is None:
        return []
    lines = []
    for b in document.get("benchmarks") or []:
        p50 = (b.get("latency_ms") or {}).get("p50")
        if b.get("device") == device and b.get("ok") and p50 and b["model"] in ROLES:
            per_million = cost.hourly_usd * p50 * 1e6 / 3.6e6
            lines.append(f"{b['model'].replace('_', ' ')} {_dollars(per_million)}")
    if not lines:
        return []
    return [
        f"Cost per million inferences on {device} at its measured p50, one stream, batch 1: {', '.join(lines)} "
        f"(throughput measured; price ${cost.hourly_usd}/h from {cost.source})."
    ]


def compute_answer(document: dict) -> list[str]:
    """Every line of the compute answer for a run's document (empty when nothing was benchmarked)."""
    if not document.get("benchmarks"):
        return []
    devices = {b.get("device") for b in document["benchmarks"]}
    device = "host" if "host" in devices else sorted(devices)[0]
    return [*host_line(document, device), *estimate_lines(document), *cost_lines(document, device)]
