"""Where the time goes: LiteRT's ``benchmark_model --enable_op_profiling=true`` output, parsed into a per-op profile.

The tool prints, after its timings, an "Operator-wise Profiling Info for Regular Benchmark
Runs:" section of tab-separated tables under ``===== Run Order =====`` (one row per node:
type, first and average milliseconds, share, name) and ``===== Summary by node type =====``
(one row per op type: count, average milliseconds, share), in the format recorded in
tensorflow/tensorflow#53138 and #42507. A delegate shows as one node of its kernel's type
(``TfLiteXNNPackDelegate``, ``TfLiteGpuDelegateV2``, ``TfLiteNnapiDelegate``); how many of
the model's nodes it replaced is the tool's own line "Replacing N out of M node(s) with
delegate (...)" where it prints one. Columns are found by their header, since tool versions
add and drop some (``[start]``).

Profiling adds its own cost to each node, so the profile comes from a separate, short run
and the latency figures from the unprofiled one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from edgekd.bench.benchmark_model import benchmark_command
from edgekd.bench.settings import BenchSettings
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import Channel, remote_command

SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs:"
TABLE = re.compile(r"^=+ (.+?) =+$")
REPLACING = re.compile(
    r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions"
)
# How many op types a profile keeps, most expensive first: the rest is summed as "other".
TOP = 8
# The profiled run is short: op shares settle within a few dozen runs, and profiling slows every node.
PROFILE_RUNS = 50


@dataclass(frozen=True)
class OpTime:
    """One op type: how many nodes, their average milliseconds per run together, and their share of the total."""

    op: str
    count: int
    ms: float
    share: float
    on_delegate: bool

    def as_dict(self) -> dict:
        return {"op": self.op, "count": self.count, "ms": self.ms, "share": self.share, "on_delegate": self.on_delegate}


@dataclass(frozen=True)
class OpProfile:
    """The op types by time, and what the delegate took."""

    ops: tuple[OpTime, ...]
    nodes_executed: int | None
    delegated_nodes: int | None
    model_nodes: int | None
    delegate: str | None

    @property
    def delegate_share(self) -> float:
        return sum(op.share for op in self.ops if op.on_delegate)

    def as_dict(self) -> dict:
        return {
            "source": "measured: benchmark_model --enable_op_profiling=true, a separate run from the timed one",
            "ops": [op.as_dict() for op in self.ops],
            "nodes_executed": self.nodes_executed,
            "delegate": self.delegate,
            "delegated_nodes": self.delegated_nodes,
            "model_nodes": self.model_nodes,
            "delegate_share": self.delegate_share,
        }


def is_delegate_kernel(node_type: str) -> bool:
    """A node that a delegate replaced a part of the graph with (``TfLiteXNNPackDelegate``, ...)."""
    return node_type.startswith("TfLite") and "Delegate" in node_type


def _tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each ``===== NAME =====`` table in ``text`` as rows keyed by their header's column names."""
    tables: dict[str, list[dict[str, str]]] = {}
    name, header = None, None
    for line in text.splitlines():
        title = TABLE.match(line.strip())
        if title:
            name, header = title.group(1), None
            tables.setdefault(name, [])
            continue
        cells = [cell.strip() for cell in line.strip("\n").split("\t") if cell.strip()]
        if name is None or not cells:
            continue
        if header is None:
            if cells[0].startswith("["):
                header = [cell.strip("[]").lower() for cell in cells]
            continue
        if len(cells) == len(header):
            tables[name].append(dict(zip(header, cells, strict=True)))
    return tables


def _number(text: str) -> float:
    return float(text.rstrip("%"))


def parse_op_profile(output: str) -> OpProfile | None:
    """The per-op profile in ``benchmark_model``'s output, or None when it printed none."""
    start = output.find(SECTION)
    if start < 0:
        return None
    tables = _tables(output[start:])
    summary = tables.get("Summary by node type") or []
    if not summary:
        return None
    ops = sorted(
        (
            OpTime(
                op=row["node type"],
                count=int(_number(row.get("count", "0"))),
                ms=_number(row["avg ms"]),
                share=_number(row["avg %"]) / 100,
                on_delegate=is_delegate_kernel(row["node type"]),
            )
            for row in summary
        ),
        key=lambda op: -op.ms,
    )
    if len(ops) > TOP:
        rest = ops[TOP:]
        other = OpTime("other", sum(o.count for o in rest), sum(o.ms for o in rest), sum(o.share for o in rest), False)
        ops = [*ops[:TOP], other]
    executed = re.search(r"Number of nodes executed: (\d+)", output[start:])
    replaced = REPLACING.search(output)
    return OpProfile(
        ops=tuple(ops),
        nodes_executed=int(executed.group(1)) if executed else None,
        delegated_nodes=int(replaced.group(1)) if replaced else None,
        model_nodes=int(replaced.group(2)) if replaced and replaced.group(2) else None,
        delegate=replaced.group(3) if replaced else next((o.op for o in ops if o.on_delegate), None),
    )


def profile_sentence(model: str, device: str, profile: OpProfile) -> str:
    """``student_int8 on pixel4: CONV_2D 75% (34 nodes), DEPTHWISE_CONV_2D 24% (13); the delegate took ...``."""
    parts = [f"{op.op} {100 * op.share:.0f}% ({op.count} node{'s' if op.count != 1 else ''})" for op in profile.ops[:4]]
    line = f"{model} on {device}, time by op: {', '.join(parts)}"
    if profile.delegate is not None:
        took = f"{profile.delegated_nodes}" if profile.delegated_nodes is not None else "some"
        of = f" of {profile.model_nodes}" if profile.model_nodes is not None else ""
        line += f"; {profile.delegate} took {took}{of} nodes and {100 * profile.delegate_share:.0f}% of the time"
    return line + " (benchmark_model op profiling)"


def op_profile_command(binary: str, model: str, profile: DeviceProfile, settings: BenchSettings) -> list[str]:
    """benchmark_model's words for a short run with op profiling (no timing is taken from it)."""
    short = replace(settings, runs=min(settings.runs, PROFILE_RUNS), min_seconds=0.0, warmup=1)
    return [*benchmark_command(binary, model, profile, short), "--enable_op_profiling=true"]


def profile_ops(
    channel: Channel, binary: str | None, model: str, profile: DeviceProfile, settings: BenchSettings
) -> dict:
    """The per-op profile of ``model`` (already on the device) from benchmark_model there, or why there is none."""
    if not binary:
        return {
            "error": "op profiling runs LiteRT's benchmark_model: set runtime.benchmark_binary in the profile "
            "(or the benchmark_binary setting)"
        }
    answer = channel.run(
        remote_command(*op_profile_command(binary, model, profile, settings)), settings.timeout_seconds
    )
    parsed = parse_op_profile(answer.stdout + answer.stderr) if answer.returncode == 0 else None
    if parsed is None:
        return {"error": f"benchmark_model printed no op profile: {answer.detail}"}
    return parsed.as_dict()
