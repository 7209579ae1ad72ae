"""Power readers on fake sysfs trees in the real formats, and measured energy end to end."""

import pytest

from edgekd.bench import agent
from edgekd.bench.benchmark import benchmark
from edgekd.bench.settings import BenchSettings
from edgekd.profiles.loader import get_profile

# Raspberry Pi 5 `vcgencmd pmic_read_adc` lines, in the format Pi 5 owners publish (e.g. github.com/jfikar/RPi5-power).
PMIC = """\
 VDD_CORE_A current(7)=6.22421000A
 VDD_CORE_V volt(15)=0.86173300V
 EXT5V_V volt(24)=5.09066000V
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_rapl_power_from_energy_difference_across_a_counter_wrap(tmp_path, monkeypatch):
    zone = tmp_path / "sys/class/powercap/intel-rapl:0"
    write(zone / "max_energy_range_uj", "1000000\n")
    write(zone / "energy_uj", "900000\n")
    clock = iter([10.0, 12.0])
    monkeypatch.setattr(agent.time, "monotonic", lambda: next(clock))
    reader = agent.RaplReader(str(tmp_path))
    assert reader.read() is None  # the first read only primes the counter
    write(zone / "energy_uj", "100000\n")  # wrapped: 900000 -> 1000000 -> 100000 is 0.2 J
    assert reader.read() == pytest.approx(0.2 / 2.0)


def test_ina2xx_power_input_and_voltage_current_fallback(tmp_path):
    hwmon = tmp_path / "sys/class/hwmon/hwmon3"
    write(tmp_path / "sys/class/hwmon/hwmon0/name", "coretemp\n")
    write(hwmon / "name", "ina219\n")
    write(hwmon / "in1_input", "5000\n")
    write(hwmon / "curr1_input", "500\n")
    assert agent.Ina2xxReader(str(tmp_path)).read() == pytest.approx(2.5)
    write(hwmon / "power1_input", "3100000\n")
    assert agent.Ina2xxReader(str(tmp_path)).read() == pytest.approx(3.1)


def test_android_battery_power_ignores_the_vendor_sign(tmp_path):
    battery = tmp_path / "sys/class/power_supply/battery"
    write(battery / "current_now", "-450000\n")
    write(battery / "voltage_now", "3900000\n")
    write(tmp_path / "sys/class/power_supply/usb/online", "0\n")
    assert agent.AndroidBatteryReader(str(tmp_path)).read() == pytest.approx(0.45 * 3.9)


def test_pmic_and_tegrastats_formats():
    assert agent.parse_pmic_read_adc(PMIC) == pytest.approx(6.22421 * 0.861733)
    assert agent.parse_pmic_read_adc("nothing") is None
    assert agent.parse_tegrastats("RAM 2158/7620MB ... VDD_IN 5832mW/5852mW VDD_CPU_GPU_CV 1190mW/1190mW") == 5.832
    assert agent.parse_tegrastats("RAM 1811/3964MB ... POM_5V_IN 1750/1628 POM_5V_GPU 0/0") == 1.75


# What each reader says when its source is missing (the reason lands in the energy's "reason").
MISSING_SOURCE = {
    "rapl": "no RAPL zone under /sys/class/powercap",
    "ina2xx": "no ina2xx hwmon device",
    "android_battery": "no battery with current_now and voltage_now",
    "vcgencmd_pmic": r"vcgencmd pmic_read_adc gave no rail readings \(a Raspberry Pi 5 is needed\)",
    "tegrastats": "tegrastats not found",
}


@pytest.mark.parametrize("reader", sorted(agent.POWER_READERS))
def test_every_reader_explains_a_missing_source(reader, tmp_path):
    if reader == "vcgencmd_pmic":
        pytest.importorskip("shutil").which("vcgencmd") and pytest.fail(
            "vcgencmd exists here; test needs a machine without it"
        )
    with pytest.raises(RuntimeError, match=MISSING_SOURCE[reader]):
        agent.POWER_READERS[reader](str(tmp_path))


def test_the_agent_samples_exactly_the_readers_the_runners_pass_it():
    from edgekd.profiles.readers import AGENT_READERS, POWER_READERS

    # The agent imports nothing from edgekd, so it keeps its own table: the two must name the same readers.
    assert set(agent.POWER_READERS) == AGENT_READERS
    assert AGENT_READERS <= set(POWER_READERS), "a reader the agent samples is one a profile may name"


@pytest.fixture
def model_file(int8_model_file):
    return int8_model_file


def test_measured_energy_end_to_end_through_the_agent(tmp_path, monkeypatch, model_file):
    write(tmp_path / "sys/class/hwmon/hwmon0/name", "ina226\n")
    write(tmp_path / "sys/class/hwmon/hwmon0/power1_input", "2500000\n")
    devices = tmp_path / "devices"
    devices.mkdir()
    profile = (
        get_profile("host")
        .path.read_text()
        .replace("name: host", "name: metered")
        .replace("reader: rapl", "reader: ina2xx")
    )
    (devices / "metered.yaml").write_text(profile)
    monkeypatch.setenv("EDGEKD_DEVICES", str(devices))
    settings = BenchSettings(runs=20, min_seconds=0.3, warmup=2, power_root=str(tmp_path))
    result = benchmark(model_file, get_profile("metered"), settings).as_dict()
    energy = result["energy"]
    assert energy["source"] == "measured" and energy["power_w"] == pytest.approx(2.5)
    assert energy["value_mj"] == pytest.approx(2.5 * result["latency_ms"]["mean"], rel=1e-3)


def test_a_failing_reader_is_named_in_the_absent_energy(model_file):
    result = benchmark(
        model_file, get_profile("host"), BenchSettings(runs=5, min_seconds=0.0, warmup=1, power_root="/nonexistent")
    ).as_dict()
    assert result["energy"]["value_mj"] is None and "the reader failed: rapl" in result["energy"]["reason"]


def test_get_throttled_flags_now_and_since_boot():
    state = agent.parse_get_throttled("throttled=0x50005")
    assert state["now"] == ["under-voltage", "throttled"] and state["since_boot"] == ["under-voltage", "throttled"]
    assert agent.parse_get_throttled("throttled=0x0")["now"] == []
    assert agent.parse_get_throttled("garbage") is None


def test_thermal_state_reads_the_hottest_zone(tmp_path):
    write(tmp_path / "sys/class/thermal/thermal_zone0/temp", "45000\n")
    write(tmp_path / "sys/class/thermal/thermal_zone1/temp", "61500\n")
    assert agent.thermal_state(str(tmp_path))["max_temp_c"] == 61.5


def test_thermal_warnings():
    from edgekd.bench.stats import thermal_warnings

    calm = {"before": {"max_temp_c": 40.0, "throttled": None}, "after": {"max_temp_c": 42.0, "throttled": None}}
    assert thermal_warnings(calm) == []
    hot = {
        "before": {"max_temp_c": 50.0, "throttled": agent.parse_get_throttled("throttled=0x0")},
        "after": {"max_temp_c": 71.0, "throttled": agent.parse_get_throttled("throttled=0x40004")},
    }
    warnings = " ".join(thermal_warnings(hot))
    assert "throttling now: throttled" in warnings and "occurred during the run: throttled" in warnings
    assert "heated from 50 to 71 C" in warnings


def test_tegrastats_reader_follows_the_tool_and_stops_it(tmp_path):
    import os
    import sys

    tool = tmp_path / "usr/bin/tegrastats"
    # The format of an Orin's tegrastats line (NVIDIA Jetson Linux Developer Guide, "tegrastats Utility"), every 50 ms.
    write(
        tool,
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "while True:\n"
        "    print('RAM 2158/7620MB (lfb 1x4MB) CPU [3%@729] VDD_IN 5832mW/5852mW VDD_CPU_GPU_CV 1190mW/1190mW', flush=True)\n"
        "    time.sleep(0.05)\n",
    )
    tool.chmod(0o755)
    reader = agent.TegrastatsReader(str(tmp_path))
    try:
        assert reader.read() == pytest.approx(5.832)
    finally:
        reader.close()
    assert reader.process.poll() is not None, "the tool is stopped with the sampler"
    assert os.path.exists(tool)


def test_an_external_meter_log_gives_measured_energy(tmp_path, monkeypatch, model_file):
    import time

    from edgekd.bench.meter import meter_samples

    log = tmp_path / "meter.csv"
    devices = tmp_path / "devices"
    devices.mkdir()
    profile = (
        get_profile("host")
        .path.read_text()
        .replace("name: host", "name: lab")
        .replace("reader: rapl", f"reader: external_csv\n  csv: {log}")
    )
    (devices / "lab.yaml").write_text(profile)
    monkeypatch.setenv("EDGEKD_DEVICES", str(devices))
    now = time.time()
    # A USB meter's log with a header, volts and amps, every 50 ms for the next 10 minutes (however
    # late the benchmark starts, it falls inside); samples from long before the run do not count.
    rows = ["time,volts,amps", f"{now - 3600},5.0,9.0"] + [f"{now + i * 0.05},5.0,0.6" for i in range(12_000)]
    log.write_text("\n".join(rows) + "\n")
    result = benchmark(model_file, get_profile("lab"), BenchSettings(runs=20, min_seconds=0.3, warmup=2)).as_dict()
    energy = result["energy"]
    assert energy["source"] == "measured" and energy["power_w"] == pytest.approx(3.0)
    assert "external meter" in energy["method"]
    assert meter_samples(log)[0] == (pytest.approx(now - 3600), pytest.approx(45.0))
    log.write_text("time,watts\n2026-01-01T00:00:00,4.0\n")
    stale = benchmark(model_file, get_profile("lab"), BenchSettings(runs=5, min_seconds=0.0, warmup=1)).as_dict()
    assert stale["energy"]["value_mj"] is None and "no samples between" in stale["energy"]["reason"]


def test_a_meter_csv_outside_external_csv_is_a_profile_error():
    from pydantic import ValidationError

    from edgekd.profiles.schema import PowerSource

    with pytest.raises(ValidationError, match="only read with reader: external_csv"):
        PowerSource(reader="rapl", csv="meter.csv")
