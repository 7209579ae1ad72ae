"""A stand-in for `adb` with one phone attached: the only fake in the suite, since no phone can be reached.

Every test that talks to a phone (the adb runner, `devices check`, `deploy` over adb) uses this
one script, so they cannot drift apart. The phone's answers are recorded from real devices:
LiteRT's `benchmark_model` summary (its format as the LiteRT benchmark tool's README shows
it) and its op profile (below), and a Galaxy A52's `dumpsys thermalservice` (android.stackexchange.com/q/246774). Its storage is real: `/data/local/tmp` on the phone is a folder
on this machine, `push` copies into it and `shell` runs `sh` there, so what the runner and
deploy leave behind (or remove) can be checked; LiteRT's tool is already installed there as
`/data/local/tmp/benchmark_model`. Other absolute paths are this machine's own.

Set by the ``stand_in_adb`` fixture (tests/conftest.py) through the environment:

- ``STAND_IN_ADB_ROOT``: the folder standing in for the phone's ``/data/local/tmp``;
- ``STAND_IN_ADB_LOG``: every call's arguments are appended there as one JSON line;
- ``STAND_IN_ADB_CUT``: when set, a push copies half the file and fails as a pulled cable does;
- ``STAND_IN_BATTERY_STATUS``: the battery's status (default ``Discharging``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

PHONE_SCRATCH = "/data/local/tmp"

RECORDED_BENCHMARK = """\
STARTING!
Log parameter values verbosely: [0]
Graph: [/data/local/tmp/model.tflite]
count=50 first=60000 curr=58000 min=55000 max=70000 avg=58000 std=2000 p5=56000 median=57500 p95=62000
count=1000 first=52162 curr=49785 min=49088 max=686105 avg=63743.2 std=60716 p5=49620 median=51891 p95=68628
Inference timings in us: Init: 119515, First inference: 87112, Warmup (avg): 58147.4, Inference (avg): 63743.2
Memory footprint delta from the start of the tool (MB): init=3.2 overall=10.5
Overall peak memory footprint (MB) via periodic monitoring: 12.4
"""

# benchmark_model --enable_op_profiling=true: its tables as tensorflow/tensorflow#42507 (the Run Order header, with
# [start]) and #53138 (the node-type summary: the first five rows as recorded there, CONV_2D to LOGISTIC; the
# RESHAPE row completes the table to 100%) show them, tab-separated. That run had XNNPACK off
# (--use_xnnpack=false), so no delegate node shows. The Run Order rows follow the summary's figures.
_ROW = "\t" + "\t".join(["{:>24}", "{:>16}", "{:>8}", "{:>8}", "{:>8}%", "{:>8}%", "{:>9}", "{:>8}", "{}"])
_SUMMARY_ROW = "\t" + "\t".join(["{:>24}", "{:>8}", "{:>9}", "{:>10}%", "{:>10}%", "{:>9}", "{:>8}"])
RECORDED_OP_PROFILE = "\n".join(
    [
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "============================== Run Order ==============================",
        "\t"
        + "\t".join(
            ["[node type]", "[start]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[Name]"]
        ),
        _ROW.format("CONV_2D", "0.000", "8.011", "7.838", "2.210", "2.210", "0.000", "1", "[conv_0]:0"),
        _ROW.format("DEPTHWISE_CONV_2D", "7.838", "2.650", "6.441", "1.816", "4.026", "0.000", "1", "[dw_0]:1"),
        "============================== Top by Computation Time ==============================",
        "Number of nodes executed: 64",
        "============================== Summary by node type ==============================",
        "\t" + "\t".join(["[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]", "[mem KB]", "[times called]"]),
        _SUMMARY_ROW.format("CONV_2D", "34", "266.475", "75.118", "75.118", "0.000", "34"),
        _SUMMARY_ROW.format("DEPTHWISE_CONV_2D", "13", "83.740", "23.606", "98.724", "0.000", "13"),
        _SUMMARY_ROW.format("TFLite_Detection_PostProcess", "1", "3.579", "1.009", "99.733", "0.000", "1"),
        _SUMMARY_ROW.format("CONCATENATION", "2", "0.483", "0.136", "99.869", "0.000", "2"),
        _SUMMARY_ROW.format("LOGISTIC", "1", "0.233", "0.066", "99.935", "0.000", "1"),
        _SUMMARY_ROW.format("RESHAPE", "13", "0.231", "0.065", "100.000", "0.000", "13"),
        "",
        "Timings (microseconds): count=50 first=354000 curr=354700 min=350100 max=361200 avg=354741 std=2200",
        "Memory (bytes): count=0",
        "64 nodes observed",
        "",
    ]
)

# `adb shell dumpsys thermalservice` on a Samsung A52 5G, Android 12 (android.stackexchange.com/q/246774).
THERMALSERVICE = """\
IsStatusOverride: false
ThermalEventListeners:
        callbacks: 1
        killed: false
        broadcasts count: -1
ThermalStatusListeners:
        callbacks: 4
        killed: false
        broadcasts count: -1
Thermal Status: 0
Cached temperatures:
        Temperature{mValue=0.0, mType=2, mName=SUBBAT, mStatus=0}
        Temperature{mValue=25.6, mType=0, mName=AP, mStatus=0}
        Temperature{mValue=23.8, mType=2, mName=BAT, mStatus=0}
        Temperature{mValue=24.7, mType=3, mName=LRB, mStatus=0}
HAL Ready: true
HAL connection:
        ThermalHAL 2.0 connected: yes
Current temperatures from HAL:
        Temperature{mValue=25.6, mType=0, mName=AP, mStatus=0}
        Temperature{mValue=23.8, mType=2, mName=BAT, mStatus=0}
        Temperature{mValue=24.7, mType=3, mName=LRB, mStatus=0}
        Temperature{mValue=25.7, mType=5, mName=PA, mStatus=0}
        Temperature{mValue=0.0, mType=4, mName=USB, mStatus=0}
Current cooling devices from HAL:
"""

PROPERTIES = {"ro.product.model": "Pixel 4", "ro.build.version.release": "13", "ro.product.cpu.abi": "arm64-v8a"}


def on_this_machine(text: str) -> str:
    """A phone path (or a shell command naming some) with the phone's scratch folder mapped to the stand-in's."""
    return text.replace(PHONE_SCRATCH, os.environ.get("STAND_IN_ADB_ROOT", PHONE_SCRATCH))


def benchmark_model(words: list[str]) -> int:
    """The recorded summary, once the binary and the model are where the command says."""
    binary = next(word for word in words if word.endswith("benchmark_model"))
    graph = next(word.split("=", 1)[1] for word in words if word.startswith("--graph="))
    for path in (binary, graph):
        if not os.path.isfile(on_this_machine(path)):
            print(f"{path}: No such file or directory", file=sys.stderr)
            return 1
    time.sleep(0.3)  # long enough for the battery sampler's first reading
    print(RECORDED_BENCHMARK)
    if "--enable_op_profiling=true" in words:
        print(RECORDED_OP_PROFILE)
    return 0


def benchmark_model_main(argv: list[str]) -> int:
    """The same tool, called directly (as an SSH or local profile's ``runtime.benchmark_binary`` is)."""
    return benchmark_model([sys.argv[0], *argv])


def thermalservice() -> int:
    # The phone warms up: status 0 on the first reading, 2 (moderate) on every later one.
    calls = os.environ["STAND_IN_ADB_ROOT"] + ".thermal-calls"
    count = int(open(calls).read()) if os.path.exists(calls) else 0
    with open(calls, "w") as handle:
        handle.write(str(count + 1))
    print(THERMALSERVICE.replace("Thermal Status: 0", f"Thermal Status: {0 if count == 0 else 2}"))
    return 0


def shell(command: str) -> int:
    words = shlex.split(command)
    if "benchmark_model" in command and any(word.startswith("--graph=") for word in words):
        return benchmark_model(words)
    if words[:1] == ["cat"] and words[-1].endswith("/status"):
        print(os.environ.get("STAND_IN_BATTERY_STATUS", "Discharging"))
        return 0
    if words[:1] == ["cat"] and any(word.endswith("/current_now") for word in words):
        print("-412000\n3870000")
        return 0
    if words == ["dumpsys", "thermalservice"]:
        return thermalservice()
    if words[:1] == ["getprop"]:
        print(PROPERTIES.get(words[-1], ""))
        return 0
    return subprocess.run(["/bin/sh", "-c", on_this_machine(command)], check=False).returncode


def push(source: str, destination: str) -> int:
    target = on_this_machine(destination)
    if os.environ.get("STAND_IN_ADB_CUT"):
        # The cable comes out halfway: adb reports the failure, half the bytes are on the phone.
        with open(source, "rb") as handle:
            data = handle.read()
        with open(target, "wb") as handle:
            handle.write(data[: len(data) // 2])
        print("adb: error: failed to copy: connection reset", file=sys.stderr)
        return 1
    shutil.copyfile(source, target)
    print(f"{source}: 1 file pushed.")
    return 0


def main(argv: list[str]) -> int:
    if os.environ.get("STAND_IN_ADB_LOG"):
        with open(os.environ["STAND_IN_ADB_LOG"], "a") as log:
            log.write(json.dumps(argv) + "\n")
    args = argv[2:] if argv[:1] == ["-s"] else argv
    if args[:1] == ["shell"] and len(args) == 2:
        return shell(args[1])
    if args[:1] == ["push"] and len(args) == 3:
        return push(args[1], args[2])
    print(f"adb: unknown command {' '.join(args)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
