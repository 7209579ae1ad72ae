#!/usr/bin/env python3
"""How much the benchmark harness adds: the agent's median latency against a bare invoke() loop.

    python scripts/bench_harness_overhead.py [MODEL.tflite] [--runs N] [--repeats K]

Both measure the same model in one run of this script, alternating K times so that drift of
the machine affects both alike; prints the medians and their ratio (target: within 5%).
Without MODEL, a small int8 conv model is built and converted first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_invoke_median_ms(model: Path, runs: int) -> float:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(20):
        interpreter.invoke()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        interpreter.invoke()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from edgekd.bench.benchmark import benchmark
    from edgekd.bench.settings import BenchSettings
    from edgekd.profiles.loader import get_profile

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if model is None:
            import numpy as np

            from edgekd.models.builders import get_builder
            from edgekd.quantize.convert import convert

            model = Path(scratch) / "student_int8.tflite"
            samples = np.random.default_rng(0).standard_normal((50, 40, 1)).astype(np.float32)
            model.write_bytes(convert(get_builder("conv").build((40, 1), 10, width=1.7), "int8", samples))
        host = get_profile("host")
        settings = BenchSettings(runs=args.runs, min_seconds=0.0, warmup=20, threads=1)
        agent, bare = [], []
        for _ in range(args.repeats):
            agent.append(benchmark(model, host, settings).latency.p50)
            bare.append(bare_invoke_median_ms(model, args.runs))
    agent_ms, bare_ms = statistics.median(agent), statistics.median(bare)
    ratio = agent_ms / bare_ms
    print(f"model: {model.name}, {args.runs} runs x {args.repeats} alternating repeats, 1 thread")
    print(f"  agent median      {agent_ms * 1e3:8.3f} us   (per repeat: {', '.join(f'{v * 1e3:.3f}' for v in agent)})")
    print(f"  bare invoke()     {bare_ms * 1e3:8.3f} us   (per repeat: {', '.join(f'{v * 1e3:.3f}' for v in bare)})")
    print(
        f"  agent / bare      {ratio:8.3f}      (target: within 5%, i.e. <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
