#!/usr/bin/env python3
"""edgekd's benchmark agent: runs on the device, needs only numpy and a TFLite interpreter.

This file is copied to the device as it is, so it imports nothing from edgekd and nothing
beyond the standard library, numpy, and whichever of ``ai_edge_litert`` / ``tflite_runtime``
the device has. It loads the model, runs warm-up, then measured invocations until both the
minimum count and the minimum duration are met (MLPerf-style), and prints one JSON document
with the raw per-run latencies; statistics are computed by the caller.

    python3 agent.py MODEL.tflite --runs 100 --min-seconds 1 --warmup 10 --threads 1
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

AGENT_VERSION = 1


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
        "delegate": "default (XNNPACK where the runtime applies it)",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="the .tflite to benchmark (omit with --probe)")
    parser.add_argument("--probe", action="store_true", help="only report the runtime and environment")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)

    import numpy as np

    result = {"agent_version": AGENT_VERSION, "ok": False}
    Interpreter, runtime, runtime_version = _load_interpreter_class()
    if Interpreter is None:
        result["error"] = "no TFLite runtime: install ai-edge-litert (or tflite-runtime) on the device"
        print(json.dumps(result))
        return 3
    if args.probe or args.model is None:
        result.update(ok=True, environment=_environment(np, runtime, runtime_version, args.threads))
        print(json.dumps(result))
        return 0
    rss_before = _rss_mb()
    started = time.perf_counter()
    try:
        interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        result["error"] = "cannot load model: " + " ".join(str(exc).split())[:300]
        print(json.dumps(result))
        return 4
    init_ms = (time.perf_counter() - started) * 1e3
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _random_input(np, detail, rng))

    started = time.perf_counter()
    interpreter.invoke()
    first_ms = (time.perf_counter() - started) * 1e3
    for _ in range(args.warmup):
        interpreter.invoke()

    latencies = []
    clock = time.perf_counter
    began = clock()
    while True:
        t0 = clock()
        interpreter.invoke()
        latencies.append((clock() - t0) * 1e3)
        elapsed = clock() - began
        if (len(latencies) >= args.runs and elapsed >= args.min_seconds) or elapsed >= args.max_seconds:
            break

    result.update(
        ok=True,
        latencies_ms=latencies,
        measured_seconds=clock() - began,
        init_ms=init_ms,
        first_inference_ms=first_ms,
        warmup_runs=args.warmup,
        rss_before_load_mb=rss_before,
        rss_after_mb=_rss_mb(),
        peak_rss_mb=_peak_rss_mb(),
        stopped_by_max_seconds=len(latencies) < args.runs,
        environment=_environment(np, runtime, runtime_version, args.threads),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
