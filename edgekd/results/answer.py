"""The compute answer a run ends with: how much faster the student is, here (measured) and elsewhere (estimated).

From a finished run's document: the host's measured p50 of teacher, float student and int8
student as a ratio; how much of the smallest model's latency is the per-invoke floor; the
estimated latency and energy per inference on the devices whose profiles carry throughput
figures (a Pi 4, a phone and the Coral USB by default), each labelled with its source; and,
where a profile gives an hourly price, the cost per million inferences at the measured
throughput. Pure arithmetic on the document and the profiles: nothing runs here.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.bench.overhead import OVERHEAD_DOMINATES, readable_time

# Devices estimated at the end of every run: a single-board computer, a phone, an accelerator.
ESTIMATED_ON = ("rpi4", "pixel4", "coral-usb")
ROLES = ("teacher_float32", "student_float32", "student_int8")
X86_INT8_NOTE = (
    "x86 int8 kernels are not ARM's: the int8 speed-up measured on an x86 host does not carry over to a phone or "
    "a Pi (nor does its absence); measure on the device, or on `rpi5-emulated` for the ARM runtime's outputs"
)


@dataclass(frozen=True)
class Estimate:
    """A model on a device from the profile's throughput (MACs per second) and active watts."""

    role: str
    device: str
    latency_ms: float
    energy_mj: float | None
    source: str


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


def estimates(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> list[Estimate]:
    """Each .tflite of the run on each device whose profile gives a throughput for its kind of model."""
    from edgekd.errors import ProfileError
    from edgekd.profiles.loader import get_profile

    found = []
    for device in devices:
        try:
            profile = get_profile(device).profile
        except ProfileError:
            continue
        power = profile.power_model
        source = _source(profile.sources)
        for role in ROLES:
            record = (document.get("models") or {}).get(role) or {}
            integer = record.get("detected_mode", record.get("mode")) in ("int8", "qat")
            throughput = power.int8_macs_per_second if integer else power.float_macs_per_second
            if not record.get("macs") or not throughput or not profile.supports(record.get("detected_mode", "")):
                continue
            latency_ms = 1000.0 * record["macs"] / throughput
            energy = power.active_watts * latency_ms if power.active_watts is not None else None
            found.append(Estimate(role, device, latency_ms, energy, source))
    return found


def _source(sources: list[str]) -> str:
    """The profile's sources for its throughput and watts (the lines that say latency or power)."""
    chosen = [s for s in sources if s.split(":", 1)[0] in ("latency", "power", "latency ratio")] or sources[:1]
    return "; ".join(chosen) or "the profile gives no source"


def estimate_lines(document: dict, devices: tuple[str, ...] = ESTIMATED_ON) -> list[str]:
    """One line per device: each model's estimated latency (and energy), labelled with the profile's source."""
    by_device: dict[str, list[Estimate]] = {}
    for estimate in estimates(document, devices):
        by_device.setdefault(estimate.device, []).append(estimate)
    lines = []
    for device, found in by_device.items():
        figures = ", ".join(
            f"{e.role.replace('_', ' ')} {readable_time(e.latency_ms)}"
            + (f" and {e.energy_mj:.3g} mJ" if e.energy_mj is not None else "")
            for e in found
        )
        lines.append(
            f"On {device} (estimated from the profile's MACs per second; no per-invoke floor is known there, so "
            f"small models run slower than this): {figures}. Source: {found[0].source}."
        )
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
