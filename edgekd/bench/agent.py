#!/usr/bin/env python3
"""edgekd's benchmark agent: runs on the device, needs only numpy and a TFLite interpreter.

This file is copied to the device as it is, so it imports nothing from edgekd and nothing
beyond the standard library, numpy, and whichever of ``ai_edge_litert`` / ``tflite_runtime``
the device has. It loads the model, runs warm-up, then measured invocations until both the
minimum count and the minimum duration are met (MLPerf-style), and prints one JSON document
with the raw per-run latencies; statistics are computed by the caller. Past ``--max-samples``
runs it keeps a uniform random sample of the latencies (with the exact count, mean, std, min
and max over all runs), so a long run on a fast model needs bounded memory.

    python3 agent.py MODEL.tflite --runs 100 --min-seconds 1 --warmup 10 --threads 1
"""

import argparse
import base64
import glob
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

AGENT_VERSION = 3

# Latencies kept whole up to this count; past it, a uniform random sample of this size. A
# 100,000-sample reservoir's p99 has a standard error of about 0.03 percentile points (in rank:
# sqrt(0.99 x 0.01 / 100,000)), and the samples take under 4 MB.
MAX_SAMPLES = 100_000


class LatencyRecorder:
    """Every run's latency up to ``capacity`` runs; past it, a uniform random sample of them (reservoir sampling).

    Vitter's algorithm R: the i-th run (from 0) replaces a random kept one with probability
    capacity / (i + 1), so every run is equally likely to be kept, early or late. Count, mean,
    std, min and max are exact over all runs (sums shifted by the first value, for precision).
    """

    def __init__(self, capacity=MAX_SAMPLES, seed=0):
        self.capacity = capacity
        self.kept = []
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self._shift = None
        self._sum = 0.0
        self._sum_squares = 0.0
        self._random = random.Random(seed)  # noqa: S311 - picks which latencies to keep; nothing secret

    def add(self, value):
        if self._shift is None:
            self._shift = value
        shifted = value - self._shift
        self._sum += shifted
        self._sum_squares += shifted * shifted
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if len(self.kept) < self.capacity:
            self.kept.append(value)
        else:
            slot = self._random.randrange(self.count + 1)
            if slot < self.capacity:
                self.kept[slot] = value
        self.count += 1

    def summary(self):
        """Exact figures over all runs, and how many latencies were kept."""
        if not self.count:
            return {"count": 0, "kept": 0}
        mean = self._shift + self._sum / self.count
        variance = 0.0
        if self.count > 1:
            variance = max(0.0, (self._sum_squares - self._sum * self._sum / self.count) / (self.count - 1))
        return {
            "count": self.count,
            "kept": len(self.kept),
            "mean": mean,
            "std": math.sqrt(variance),
            "min": self.min,
            "max": self.max,
        }


# ---- power readers: one small class each; read() returns watts now (or None) --------------
# Sysfs readers take a root folder so that tests can point them at a fake tree in the real format.


class RaplReader:
    """Intel RAPL package energy (µJ) from powercap; power = energy difference / time, with counter wrap."""

    name = "rapl"

    def __init__(self, root="/"):
        zones = sorted(glob.glob(os.path.join(root, "sys/class/powercap/intel-rapl:[0-9]")))
        if not zones:
            raise RuntimeError("no RAPL zone under /sys/class/powercap (virtual machines and non-Intel CPUs lack it)")
        self.zones = zones
        self.last = None

    def _energy(self):
        total = []
        for zone in self.zones:
            with open(os.path.join(zone, "energy_uj")) as handle:
                energy = int(handle.read())
            with open(os.path.join(zone, "max_energy_range_uj")) as handle:
                total.append((energy, int(handle.read())))
        return total, time.monotonic()

    def read(self):
        now = self._energy()
        previous, self.last = self.last, now
        if previous is None:
            return None
        joules = 0.0
        # No zip(strict=): device Pythons (e.g. Raspberry Pi OS) may predate 3.10.
        for (before, wrap), (after, _) in zip(previous[0], now[0]):  # noqa: B905
            joules += ((after - before) % wrap) / 1e6  # the counter wraps at max_energy_range_uj
        elapsed = now[1] - previous[1]
        return joules / elapsed if elapsed > 0 else None


class Ina2xxReader:
    """INA219/INA226/INA260 through hwmon: power1_input (µW), else in1_input (mV) x curr1_input (mA)."""

    name = "ina2xx"

    def __init__(self, root="/"):
        self.folder = None
        for folder in sorted(glob.glob(os.path.join(root, "sys/class/hwmon/hwmon*"))):
            try:
                with open(os.path.join(folder, "name")) as handle:
                    if handle.read().strip().startswith("ina2"):
                        self.folder = folder
                        break
            except OSError:
                continue
        if self.folder is None:
            raise RuntimeError("no ina2xx hwmon device under /sys/class/hwmon")

    def _value(self, name):
        with open(os.path.join(self.folder, name)) as handle:
            return float(handle.read())

    def read(self):
        if os.path.exists(os.path.join(self.folder, "power1_input")):
            return self._value("power1_input") / 1e6
        return self._value("in1_input") / 1e3 * self._value("curr1_input") / 1e3


class AndroidBatteryReader:
    """Battery current_now (µA, sign differs by vendor) x voltage_now (µV); unplug USB power while measuring."""

    name = "android_battery"

    def __init__(self, root="/"):
        candidates = sorted(glob.glob(os.path.join(root, "sys/class/power_supply/*/current_now")))
        batteries = [
            os.path.dirname(c) for c in candidates if os.path.exists(os.path.join(os.path.dirname(c), "voltage_now"))
        ]
        if not batteries:
            raise RuntimeError("no battery with current_now and voltage_now under /sys/class/power_supply")
        preferred = [b for b in batteries if os.path.basename(b) == "battery"]
        self.folder = (preferred or batteries)[0]

    def read(self):
        with open(os.path.join(self.folder, "current_now")) as handle:
            microamps = abs(float(handle.read()))
        with open(os.path.join(self.folder, "voltage_now")) as handle:
            microvolts = float(handle.read())
        return microamps * microvolts / 1e12


def parse_pmic_read_adc(text):
    """Raspberry Pi 5 `vcgencmd pmic_read_adc`: sum V x A over rails reporting both (EXT5V has voltage only)."""
    amps, volts = {}, {}
    for rail, kind, value in re.findall(r"(\w+)_([AV]) \w+\(\d+\)=([\d.]+)[AV]", text):
        (amps if kind == "A" else volts)[rail] = float(value)
    rails = set(amps) & set(volts)
    return sum(amps[r] * volts[r] for r in rails) if rails else None


class VcgencmdPmicReader:
    """Raspberry Pi 5 PMIC rails: the sum of the SoC-side rails, not total board input power."""

    name = "vcgencmd_pmic"
    command = ["vcgencmd", "pmic_read_adc"]

    def __init__(self, root="/"):
        if self.read() is None:
            raise RuntimeError("vcgencmd pmic_read_adc gave no rail readings (a Raspberry Pi 5 is needed)")

    def read(self):
        try:
            output = subprocess.run(self.command, capture_output=True, text=True, timeout=2).stdout  # noqa: S603 - fixed argv from the reader's own constants
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_pmic_read_adc(output)


def parse_tegrastats(line):
    """Jetson `tegrastats`: total input power in watts from VDD_IN (Orin) or POM_5V_IN (Nano), current value."""
    match = re.search(r"(?:VDD_IN|POM_5V_IN) (\d+)(?:mW)?/(\d+)", line)
    return int(match.group(1)) / 1e3 if match else None


class TegrastatsReader:
    """NVIDIA Jetson: follows `tegrastats --interval 100` and returns the latest total input power."""

    name = "tegrastats"

    def __init__(self, root="/"):
        candidate = os.path.join(root, "usr/bin/tegrastats")
        executable = candidate if os.access(candidate, os.X_OK) else shutil.which("tegrastats")
        if not executable:
            raise RuntimeError("tegrastats not found (Jetson boards ship it in /usr/bin)")
        self.process = subprocess.Popen(  # noqa: S603 - tegrastats resolved with shutil.which, fixed arguments
            [executable, "--interval", "100"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            universal_newlines=True,
        )
        self.latest = None
        self.thread = threading.Thread(target=self._follow)
        self.thread.daemon = True
        self.thread.start()
        deadline = time.monotonic() + 2.0
        while self.latest is None and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.02)
        if self.latest is None:
            self.close()
            raise RuntimeError("tegrastats printed no VDD_IN or POM_5V_IN reading within 2 s")

    def _follow(self):
        for line in self.process.stdout:
            value = parse_tegrastats(line)
            if value is not None:
                self.latest = value

    def read(self):
        return self.latest

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ---- thermal state: read before and after the measured runs ------------------------------

THROTTLED_BITS = {0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"}


def parse_get_throttled(text):
    """Raspberry Pi `vcgencmd get_throttled` (throttled=0x50005): (current flags, flags seen since boot)."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", text)
    if not match:
        return None
    value = int(match.group(1), 16)
    now = [name for bit, name in THROTTLED_BITS.items() if value & (1 << bit)]
    since_boot = [name for bit, name in THROTTLED_BITS.items() if value & (1 << (bit + 16))]
    return {"raw": match.group(1), "now": now, "since_boot": since_boot}


def thermal_state(root="/"):
    """Hottest thermal zone in degrees C, and the Pi's throttling flags where vcgencmd exists."""
    temperatures = []
    for path in glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*/temp")):
        try:
            with open(path) as handle:
                temperatures.append(int(handle.read()) / 1000.0)
        except (OSError, ValueError):
            continue
    state = {"max_temp_c": max(temperatures) if temperatures else None}
    try:
        output = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2).stdout  # noqa: S603,S607 - Raspberry Pi OS tool found on PATH, fixed arguments
        state["throttled"] = parse_get_throttled(output)
    except (OSError, subprocess.TimeoutExpired):
        state["throttled"] = None
    return state


POWER_READERS = {
    reader.name: reader
    for reader in (RaplReader, Ina2xxReader, AndroidBatteryReader, VcgencmdPmicReader, TegrastatsReader)
}


class PowerSampler(threading.Thread):
    """Samples a reader in the background during the measured runs."""

    def __init__(self, reader, interval):
        super().__init__(daemon=True)
        self.reader, self.interval = reader, interval
        self.samples, self.stop_event = [], threading.Event()

    def run(self):
        self.reader.read()  # primes counter-based readers (RAPL)
        while not self.stop_event.wait(self.interval):
            value = self.reader.read()
            if value is not None:
                self.samples.append(value)

    def finish(self):
        self.stop_event.set()
        self.join(timeout=5)
        close = getattr(self.reader, "close", None)
        if close is not None:
            close()
        return self.samples


def _rss_mb():
    # Current resident set size from /proc (Linux); ru_maxrss gives the peak.
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


DEFAULT_DELEGATE_LIBRARIES = {"edgetpu": "libedgetpu.so.1"}


def _load_delegate_function(runtime):
    if runtime == "ai_edge_litert":
        from ai_edge_litert.interpreter import load_delegate
    else:
        from tflite_runtime.interpreter import load_delegate
    return load_delegate


def _make_interpreter(Interpreter, runtime, args):
    """The interpreter with the requested delegate; returns (interpreter, delegate description, fallback note)."""
    if args.delegate in (None, "xnnpack"):
        return Interpreter(model_path=args.model, num_threads=args.threads), "xnnpack (runtime default)", None
    if args.delegate == "none":
        return Interpreter(model_path=args.model, num_threads=args.threads), "runtime default", None
    library = args.delegate_library or DEFAULT_DELEGATE_LIBRARIES.get(args.delegate)
    try:
        if not library:
            raise ValueError(f"no library known for the {args.delegate} delegate; set runtime.delegate_library")
        delegate = _load_delegate_function(runtime)(library)
        interpreter = Interpreter(model_path=args.model, experimental_delegates=[delegate], num_threads=args.threads)
        return interpreter, f"{args.delegate} ({library})", None
    except (ValueError, RuntimeError, OSError, AttributeError) as exc:  # AttributeError: a library, not a delegate
        reason = f"cannot load the {args.delegate} delegate ({library}): " + " ".join(str(exc).split())[:200]
        if not args.allow_fallback:
            raise RuntimeError(reason) from None
        interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
        return interpreter, "cpu (fallback)", reason


def _load_interpreter_class():
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert", getattr(ai_edge_litert, "__version__", "unknown")
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime", getattr(tflite_runtime, "__version__", "unknown")
    except ImportError:
        return None, None, None


def _random_input(np, detail, rng):
    shape = [int(d) for d in detail["shape"]]
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def _environment(np, runtime, runtime_version, threads):
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "runtime": runtime,
        "runtime_version": runtime_version,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.system(),
        "release": platform.release(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "threads": threads,
    }


def _at_least(lowest, kind):
    """An argparse type: a finite ``kind`` (int or float) no lower than ``lowest``."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < lowest:
            raise argparse.ArgumentTypeError(f"{text} must be finite and at least {lowest}")
        return value

    return parse


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="the .tflite to benchmark (omit with --probe)")
    parser.add_argument("--probe", action="store_true", help="only report the runtime and environment")
    parser.add_argument("--runs", type=_at_least(1, int), default=100)
    parser.add_argument("--min-seconds", type=_at_least(0, float), default=1.0)
    parser.add_argument("--warmup", type=_at_least(0, int), default=10)
    parser.add_argument("--threads", type=_at_least(1, int), default=1)
    parser.add_argument("--max-seconds", type=_at_least(0, float), default=300.0, help="stop measuring (and warm-up)")
    parser.add_argument(
        "--max-samples", type=_at_least(1, int), default=MAX_SAMPLES, help="latencies kept before sampling them"
    )
    parser.add_argument("--delegate", help="xnnpack (default), none, edgetpu, gpu, nnapi")
    parser.add_argument("--delegate-library", help="shared library of the delegate")
    parser.add_argument("--allow-fallback", action="store_true", help="run on the CPU if the delegate cannot load")
    parser.add_argument("--power-reader", choices=sorted(POWER_READERS), help="sample power during the measured runs")
    parser.add_argument("--power-root", default="/", help="root of the sysfs tree to read (for tests)")
    parser.add_argument("--power-interval", type=float, default=0.02, help="seconds between power samples")
    parser.add_argument("--inputs", help="an .npy of raw input samples: return the model's outputs for each")
    parser.add_argument(
        "--window-seconds", type=_at_least(0, float), default=0.0, help="group the runs in windows this long (drift)"
    )
    return parser


def _report(result, exit_status, error=None):
    """Print the one JSON document the runner reads (with ``error`` when it failed); return ``exit_status``."""
    if error is not None:
        result["error"] = error
    print(json.dumps(result))
    return exit_status


def _fill_inputs(np, interpreter):
    """Random inputs of the right shape and type, the same on every run (seeded)."""
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _random_input(np, detail, rng))


def _first_and_warmup(interpreter, args):
    """(the first invocation's milliseconds, how many warm-up runs fit in --max-seconds)."""
    started = time.perf_counter()
    interpreter.invoke()
    first_ms = (time.perf_counter() - started) * 1e3
    warmup_runs = 0
    while warmup_runs < args.warmup and time.perf_counter() - started < args.max_seconds:
        interpreter.invoke()
        warmup_runs += 1
    return first_ms, warmup_runs


def _start_power_sampler(args):
    """(a started sampler of --power-reader, or None; why it could not start, or None)."""
    if not args.power_reader:
        return None, None
    try:
        sampler = PowerSampler(POWER_READERS[args.power_reader](args.power_root), args.power_interval)
        sampler.start()
    except (RuntimeError, OSError) as exc:
        return None, f"{args.power_reader}: {exc}"
    return sampler, None


def _power_result(args, sampler, power_error):
    """The power section of the result: the mean of the samples, the reader's failure, or None when not asked."""
    if sampler is not None:
        samples = sampler.finish()
        return {
            "reader": args.power_reader,
            "samples": len(samples),
            "mean_w": sum(samples) / len(samples) if samples else None,
            "interval_s": args.power_interval,
        }
    if power_error:
        return {"reader": args.power_reader, "error": power_error}
    return None


class Windows:
    """Latency in consecutive windows of ``seconds`` of a sustained run, with the hottest zone at each window's end.

    Each window keeps its own bounded sample for the median; the drift of a long run is read
    from the first and last windows.
    """

    def __init__(self, seconds, total_seconds, root="/", capacity=2000):
        self.seconds, self.root, self.capacity = seconds, root, capacity
        # The run that crosses the end belongs to the last window, never to a window of its own.
        self.last = max(0, math.ceil(total_seconds / seconds - 1e-9) - 1)
        self.closed = []
        self._index, self._current = 0, LatencyRecorder(capacity)

    def add(self, elapsed, latency_ms):
        index = min(int(elapsed // self.seconds), self.last)
        if index != self._index and self._current.count:
            self.close()
        self._index = index
        self._current.add(latency_ms)

    def close(self):
        recorder, kept = self._current, sorted(self._current.kept)
        if recorder.count:
            self.closed.append(
                {
                    "start_s": round(self._index * self.seconds, 3),
                    "count": recorder.count,
                    "mean_ms": recorder.summary()["mean"],
                    "p50_ms": kept[len(kept) // 2],
                    "max_temp_c": thermal_state(self.root)["max_temp_c"],
                }
            )
        self._current = LatencyRecorder(self.capacity)

    def summary(self):
        self.close()
        return self.closed


def _measure(interpreter, args):
    """Measured runs until both --runs and --min-seconds are met, or --max-seconds passes; (latencies, seconds, windows).

    With --window-seconds, the runs are also grouped in windows of that length (a sustained
    run's drift); otherwise windows is None.
    """
    latencies = LatencyRecorder(args.max_samples)
    windows = Windows(args.window_seconds, args.max_seconds, args.power_root) if args.window_seconds else None
    clock = time.perf_counter
    began = clock()
    while True:
        t0 = clock()
        interpreter.invoke()
        latency = (clock() - t0) * 1e3
        latencies.add(latency)
        elapsed = clock() - began
        if windows is not None:
            windows.add(elapsed, latency)
        if (latencies.count >= args.runs and elapsed >= args.min_seconds) or elapsed >= args.max_seconds:
            return latencies, clock() - began, windows.summary() if windows is not None else None


def _outputs_for(np, interpreter, path):
    """The raw outputs for each sample in the .npy at ``path`` (one invoke each), as base64 with dtype and shape."""
    samples = np.load(path, allow_pickle=False)
    entry, exit_ = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in samples:
        interpreter.set_tensor(entry["index"], sample[None].astype(entry["dtype"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(exit_["index"])[0].copy())
    # The form edgekd.bench.accuracy.decode_outputs reads (this file cannot import edgekd).
    array = np.ascontiguousarray(np.stack(outputs))
    return {"dtype": str(array.dtype), "shape": list(array.shape), "base64": base64.b64encode(array).decode()}


def main(argv=None):
    args = _parser().parse_args(argv)

    import numpy as np

    result = {"agent_version": AGENT_VERSION, "ok": False}
    Interpreter, runtime, runtime_version = _load_interpreter_class()
    if Interpreter is None:
        return _report(result, 3, "no TFLite runtime: install ai-edge-litert (or tflite-runtime) on the device")
    if args.probe or args.model is None:
        result.update(ok=True, environment=_environment(np, runtime, runtime_version, args.threads))
        return _report(result, 0)
    rss_before = _rss_mb()
    started = time.perf_counter()
    try:
        interpreter, delegate, fallback = _make_interpreter(Interpreter, runtime, args)
    except RuntimeError as exc:
        return _report(result, 5, str(exc))
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        return _report(result, 4, "cannot load model: " + " ".join(str(exc).split())[:300])
    init_ms = (time.perf_counter() - started) * 1e3
    _fill_inputs(np, interpreter)
    first_ms, warmup_runs = _first_and_warmup(interpreter, args)

    thermal_before = thermal_state(args.power_root)
    sampler, power_error = _start_power_sampler(args)
    latencies, measured_seconds, windows = _measure(interpreter, args)
    power = _power_result(args, sampler, power_error)
    result.update(
        ok=True,
        thermal={"before": thermal_before, "after": thermal_state(args.power_root)},
        power=power,
        latencies_ms=latencies.kept,
        latency_summary=latencies.summary(),
        measured_seconds=measured_seconds,
        init_ms=init_ms,
        first_inference_ms=first_ms,
        warmup_runs=warmup_runs,
        rss_before_load_mb=rss_before,
        rss_after_mb=_rss_mb(),
        peak_rss_mb=_peak_rss_mb(),
        stopped_by_max_seconds=latencies.count < args.runs,
        environment={**_environment(np, runtime, runtime_version, args.threads), "delegate": delegate},
        delegate_fallback=fallback,
    )
    if windows is not None:
        result["windows"] = windows
    if args.inputs:
        try:
            result["outputs"] = _outputs_for(np, interpreter, args.inputs)
        except (ValueError, RuntimeError, OSError) as exc:
            result["ok"] = False
            return _report(result, 6, "cannot run the accuracy inputs: " + " ".join(str(exc).split())[:300])
    return _report(result, 0)


if __name__ == "__main__":
    sys.exit(main())
