"""Where the time goes: benchmark_model's op profile, parsed from its recorded format, over adb and over SSH."""

from __future__ import annotations

import json
import sys

import pytest

from edgekd.bench.op_profile import parse_op_profile, profile_sentence
from tests.conftest import CHECKOUT, invoke
from tests.stand_in_adb import RECORDED_OP_PROFILE

# The same tables with a delegate: an XNNPACK run where two nodes stayed on the CPU, in the tool's layout
# (newer versions print the Run Order without [start]; the summary is what the shares come from).
DELEGATED = """\
INFO: Replacing 66 out of 68 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions.
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]
\tTfLiteXNNPackDelegate\t9.000\t8.000\t80.000%\t80.000%\t0.000\t1\t[delegate]:68
\tSOFTMAX\t2.100\t2.000\t20.000%\t100.000%\t0.000\t1\t[softmax]:69
Number of nodes executed: 3
============================== Summary by node type ==============================
\t[Node type]\t[count]\t[avg ms]\t[avg %]\t[cdf %]\t[mem KB]\t[times called]
\tTfLiteXNNPackDelegate\t1\t8.000\t80.000%\t80.000%\t0.000\t1
\tSOFTMAX\t1\t1.500\t15.000%\t95.000%\t0.000\t1
\tDEQUANTIZE\t1\t0.500\t5.000%\t100.000%\t0.000\t1
"""


def test_the_recorded_profile_is_parsed_by_its_headers():
    profile = parse_op_profile(RECORDED_OP_PROFILE)
    assert [op.op for op in profile.ops[:2]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert (
        profile.ops[0].count == 34 and profile.ops[0].ms == 266.475 and profile.ops[0].share == pytest.approx(0.75118)
    )
    assert profile.nodes_executed == 64 and profile.delegate is None and profile.delegate_share == 0
    assert sum(op.share for op in profile.ops) == pytest.approx(1.0, abs=1e-4)


def test_a_delegate_and_the_nodes_it_took():
    profile = parse_op_profile(DELEGATED)
    assert profile.delegate == "TfLiteXNNPackDelegate" and (profile.delegated_nodes, profile.model_nodes) == (66, 68)
    assert profile.delegate_share == pytest.approx(0.8) and profile.ops[0].on_delegate
    assert profile_sentence("m", "phone", profile) == (
        "m on phone, time by op: TfLiteXNNPackDelegate 80% (1 node), SOFTMAX 15% (1 node), DEQUANTIZE 5% (1 node); "
        "TfLiteXNNPackDelegate took 66 of 68 nodes and 80% of the time (benchmark_model op profiling)"
    )
    assert parse_op_profile("count=50 first=1 curr=1 min=1 max=1 avg=1 std=0\n") is None


def test_adb_profiles_in_a_separate_run_and_keeps_the_timed_figures(stand_in_adb, int8_model_file, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"fake")
    args = ["bench", str(int8_model_file), "--device", "pixel4", "--benchmark-binary", str(binary), "--profile-ops"]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    (bench,) = json.loads(result.stdout)
    assert bench["op_profile"]["ops"][0]["op"] == "CONV_2D" and bench["op_profile"]["nodes_executed"] == 64
    assert bench["latency_ms"]["p50"] == pytest.approx(51.891), "the timed run's figures, not the profiled run's"
    runs = [call for call in stand_in_adb.calls() if "--graph=" in " ".join(call) and "model.tflite" in " ".join(call)]
    # The one-op model's run (the per-invoke floor), the timed run, then the profiled one.
    assert ["--enable_op_profiling=true" in " ".join(call) for call in runs] == [False, False, True]
    shown = invoke(*args)
    assert "time by op: CONV_2D 75% (34 nodes), DEPTHWISE_CONV_2D 24% (13 nodes)" in shown.stdout
    compared = invoke("compare")
    assert "time by op: CONV_2D 75%" in compared.stdout
    report = invoke("report", "--out", str(tmp_path / "report"))
    assert report.exit_code == 0 and "time by op: CONV_2D 75%" in (tmp_path / "report" / "report.md").read_text()


@pytest.fixture
def stand_in_benchmark_model(tmp_path):
    """LiteRT's benchmark_model as an SSH or local profile names it: the stand-in's tool, called directly."""
    launcher = tmp_path / "tool" / "benchmark_model"
    launcher.parent.mkdir()
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(CHECKOUT)!r})\n"
        "from tests.stand_in_adb import benchmark_model_main\nsys.exit(benchmark_model_main(sys.argv[1:]))\n"
    )
    launcher.chmod(0o755)
    return launcher


def test_an_ssh_profile_with_a_benchmark_binary_profiles_ops(
    sshd, stand_in_benchmark_model, int8_model_file, tmp_path, monkeypatch
):
    folder = tmp_path / "devices"
    folder.mkdir()
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))
    text = sshd.profile_yaml("profiled")
    tooled = text.replace(
        "default_threads: 1}", f'default_threads: 1, benchmark_binary: "{stand_in_benchmark_model}"}}'
    )
    (folder / "profiled.yaml").write_text(tooled)
    (folder / "plain.yaml").write_text(sshd.profile_yaml("plain"))
    args = ["bench", str(int8_model_file), "--runs", "20", "--min-seconds", "0.05", "--profile-ops", "--json"]
    result = invoke(*args[:2], "--device", "profiled", "--device", "plain", *args[2:])
    assert result.exit_code == 0, result.stderr
    profiled, plain = json.loads(result.stdout)
    assert profiled["runner"] == "ssh" and profiled["op_profile"]["ops"][0]["op"] == "CONV_2D"
    assert profiled["latency_ms"]["p50"] < 1, "the agent's own timing of the real model"
    assert "set runtime.benchmark_binary" in plain["op_profile"]["error"]
