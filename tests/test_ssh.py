"""The SSH runner against a real sshd on 127.0.0.1, running the real agent on the far side."""

import glob
import json
from pathlib import Path

import pytest

from edgekd.bench.benchmark import benchmark
from edgekd.bench.settings import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.loader import get_profile
from edgekd.transport.channel import remote_command
from tests.conftest import assert_clean_failure, invoke
from tests.sshd import free_port, keygen

QUICK = BenchSettings(runs=20, min_seconds=0.05, warmup=2, timeout_seconds=120)


@pytest.fixture
def device(sshd, tmp_path, monkeypatch):
    """Write a profile for the loopback device (with overrides) and return its entry."""
    folder = tmp_path / "devices"
    folder.mkdir()
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))

    def make(name="loopback", **overrides):
        (folder / f"{name}.yaml").write_text(sshd.profile_yaml(name, **overrides))
        return get_profile(name)

    return make


@pytest.fixture
def model_file(int8_model_file):
    return int8_model_file


@pytest.fixture
def device_scratch(tmp_path, monkeypatch) -> Path:
    """Where this test's scratch folders go on the device (127.0.0.1): its own, so that the SSH benchmarks
    of tests running beside it in another worker never show up in its count."""
    from edgekd.bench import ssh as ssh_bench

    root = tmp_path / "device-tmp"
    root.mkdir()
    monkeypatch.setattr(ssh_bench, "SCRATCH_TEMPLATE", f"{root}/edgekd.XXXXXXXX")
    return root


def remote_folders(root: Path) -> set[str]:
    return set(glob.glob(f"{root}/edgekd.*"))


def test_benchmark_over_ssh_runs_the_agent_and_cleans_up(device, model_file, device_scratch):
    untouched = device_scratch.stat().st_mtime_ns
    result = benchmark(model_file, device(), QUICK).as_dict()
    assert device_scratch.stat().st_mtime_ns != untouched, "the scratch folder was made (and removed) there"
    assert result["ok"] and result["runner"] == "ssh" and result["runs"] >= 20
    assert result["environment"]["runtime"] == "ai_edge_litert"
    assert remote_folders(device_scratch) == set(), "the temporary folder on the device was left behind"


def test_accuracy_inputs_travel_over_ssh_and_the_outputs_come_back(device, model_file, device_scratch):
    from edgekd.bench.accuracy import AccuracyData

    data = AccuracyData.load("mnist1d:samples=1500,transfer=300", 50)
    result = benchmark(model_file, device(), QUICK, accuracy=data).as_dict()
    checked = result["accuracy"]
    assert result["ok"] and checked["samples"] == 50 and checked["agreement_with_host"] == 1.0
    assert checked["largest_difference_steps"] == 0 and checked["runtime"].startswith("ai_edge_litert")
    assert remote_folders(device_scratch) == set(), "the inputs left with the temporary folder"


def test_hostile_file_name_benchmarks_and_runs_nothing(device, model_file, tmp_path):
    device()
    hostile = tmp_path / "x'; touch pwned; '.tflite"
    hostile.write_bytes(model_file.read_bytes())
    result = invoke(
        "bench", str(hostile), "--device", "loopback", "--runs", "10", "--min-seconds", "0.05", "--json", cwd=tmp_path
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["ok"]
    for place in (tmp_path, Path.home(), Path("/"), Path("/tmp")):
        assert not (place / "pwned").exists()


def test_remote_commands_quote_every_word():
    assert (
        remote_command("python3", "a b.py", "x'; touch pwned; '") == "python3 'a b.py' 'x'\"'\"'; touch pwned; '\"'\"''"
    )


# OpenSSH 9's option letters (ssh.c's getopt string): those followed by ':' take a value.
SSH_OPTIONS = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVW:XYy"


def parse_like_ssh(argv: list[str]) -> tuple[list[str], list[tuple[str, str | None]], list[str]]:
    """(words where ssh reads option letters, (letter, value) pairs, operands), as ssh's getopt sees argv."""
    words, options, index = [], [], 1
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "-":
        word = argv[index]
        index += 1
        if word == "--":
            break
        words.append(word)
        for position, letter in enumerate(word[1:], start=1):
            assert letter in SSH_OPTIONS, f"ssh would refuse option {letter!r}"
            if SSH_OPTIONS[SSH_OPTIONS.index(letter) + 1 : SSH_OPTIONS.index(letter) + 2] == ":":
                value = word[position + 1 :] or argv[index]
                index += 0 if word[position + 1 :] else 1
                options.append((letter, value))
                break
            options.append((letter, None))
    return words, options, argv[index:]


HOSTILE = "-oProxyCommand=touch /tmp/pwned-by-edgekd-profile"


@pytest.mark.parametrize(
    "host, user", [(HOSTILE, "pi"), ("board.local", HOSTILE), (HOSTILE, HOSTILE), ("-v", "-F/dev/null")]
)
def test_no_profile_value_stands_where_ssh_reads_an_option(host, user, tmp_path):
    from edgekd.transport.ssh import SshTarget

    # Built directly, as if a profile had slipped past the schema (which refuses these values).
    target = SshTarget(host, user, 22, tmp_path / "-i key", tmp_path / "-o known hosts")
    argv = target.command_line("uname -a")
    words, options, operands = parse_like_ssh(argv)
    assert set(words) == {"-o", "-p", "-l"}, "only edgekd's own flags are read as options"
    assert ("l", user) in options and ("p", "22") in options
    assert operands == [host, "uname -a"], "the host comes after '--': an operand whatever it says"
    assert not any(letter == "o" and "ProxyCommand" in value for letter, value in options), "no -o of the profile's"


def test_a_host_that_reads_like_an_option_is_only_ever_a_host(sshd, tmp_path):
    from edgekd.transport.ssh import SshChannel, SshTarget

    pwned = Path("/tmp/pwned-by-edgekd-profile")
    pwned.unlink(missing_ok=True)
    target = SshTarget(HOSTILE, sshd.user, sshd.port, sshd.user_key, sshd.known_hosts)
    # ssh takes it for a host name and refuses it (OpenSSH 9.6+, and Debian's 9.2) or fails to resolve it.
    with pytest.raises(BenchmarkError, match="hostname contains invalid characters|cannot resolve host"):
        SshChannel(target, "hostile").run("true", 30)
    assert not pwned.exists(), "ssh ran the ProxyCommand"
    # The key and known_hosts files may hold spaces and '%' (ssh expands %-tokens): they still work.
    odd = tmp_path / "my keys %d"
    odd.mkdir()
    (odd / "id").write_bytes(sshd.user_key.read_bytes())
    (odd / "id").chmod(0o600)
    (odd / "known hosts").write_bytes(sshd.known_hosts.read_bytes())
    target = SshTarget("127.0.0.1", sshd.user, sshd.port, odd / "id", odd / "known hosts")
    assert SshChannel(target, "odd").run("echo reached", 30).stdout.strip() == "reached"


def test_unknown_host_key_is_refused(device, model_file, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    with pytest.raises(BenchmarkError, match="not in .*never accepts host keys silently"):
        benchmark(model_file, device(known_hosts=str(empty)), QUICK)


def test_changed_host_key_is_refused_loudly(sshd, device, model_file, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    key_type, key_data = (tmp_path / "other_host_key.pub").read_text().split()[:2]
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    assert other.exists()
    with pytest.raises(BenchmarkError, match="host key of 127.0.0.1"):
        benchmark(model_file, device(known_hosts=str(wrong)), QUICK)


def test_refused_user_key(device, model_file, tmp_path):
    stranger = keygen(tmp_path / "stranger_key")
    with pytest.raises(BenchmarkError, match="refused the key"):
        benchmark(model_file, device(key_file=str(stranger)), QUICK)


def test_nothing_listening_is_reported_after_bounded_retries(device, model_file):
    with pytest.raises(BenchmarkError, match="connection refused.*after 3 attempts"):
        benchmark(model_file, device(port=free_port()), QUICK)


def test_missing_python_on_the_device(device, model_file):
    with pytest.raises(BenchmarkError, match="was not found on the device"):
        benchmark(model_file, device(python="/nonexistent/python3"), QUICK)


def test_a_failing_device_does_not_stop_the_others(sshd, device, model_file):
    device("good")
    device("bad", port=free_port())
    result = invoke(
        "bench",
        str(model_file),
        "--device",
        "good",
        "--device",
        "bad",
        "--runs",
        "10",
        "--min-seconds",
        "0.05",
        "--json",
    )
    assert result.exit_code != 0
    by_device = {entry["device"]: entry for entry in json.loads(result.stdout)}
    assert by_device["good"]["ok"] and not by_device["bad"]["ok"]
    assert "connection refused" in by_device["bad"]["error"]
    assert "1 of 2 benchmark(s) failed" in result.stderr


def test_devices_list_shows_the_ssh_runner(device):
    device()
    listing = invoke("devices", "list")
    assert "loopback" in listing.stdout and "user" in listing.stdout


def test_devices_are_benchmarked_concurrently(sshd, device, model_file):
    from edgekd.bench.stage import bench_stage
    from edgekd.progress import SILENT

    for name in ("one", "two"):
        device(name)
    settings = BenchSettings(runs=10, min_seconds=1.0, warmup=1, timeout_seconds=120)
    results = bench_stage([("m", model_file)], ["one", "two"], settings, SILENT)
    assert [r.device for r in results] == ["one", "two"] and all(r.ok for r in results)
    one, two = results
    # Overlapping measurement windows: the second device did not wait for the first.
    assert one.started < two.finished and two.started < one.finished


def test_devices_check_reaches_the_device_and_finds_its_runtime(device):
    device()
    result = invoke("devices", "check", "loopback", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["reachable"] and document["runtime"] == "ai_edge_litert"


def test_devices_check_on_an_unreachable_device(device):
    device(port=free_port())
    assert_clean_failure(invoke("devices", "check", "loopback"), "connection refused")


def host_fingerprint(sshd) -> str:
    import subprocess

    output = subprocess.run(["ssh-keygen", "-lf", str(sshd.folder / "host_key.pub")], capture_output=True, text=True)
    return output.stdout.split()[1]


def test_trusting_a_host_key_by_fingerprint_then_benchmarking(sshd, device, model_file, tmp_path):
    known = tmp_path / "fresh_known_hosts"
    device(known_hosts=str(known))
    wrong = invoke("devices", "trust", "loopback", "--fingerprint", "SHA256:" + "A" * 43)
    assert_clean_failure(wrong, "nothing was trusted")
    assert not known.exists() or known.read_text() == ""
    right = invoke("devices", "trust", "loopback", "--fingerprint", host_fingerprint(sshd))
    assert right.exit_code == 0, right.stderr
    assert benchmark(model_file, get_profile("loopback"), QUICK).ok
