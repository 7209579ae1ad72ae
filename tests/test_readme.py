"""The README's promises: the two set-up commands, CI running the second, the demo config shown verbatim."""

from pathlib import Path

from edgekd.config import DEMO_CONFIG_YAML, demo_config

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands_and_ci_runs_the_second():
    text = (ROOT / "README.md").read_text()
    assert text.index("```bash") < text.index("\n## ")
    commands = readme_commands()
    assert len(commands) == 2
    assert "edgekd demo" in commands[0] and "pip install" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_shows_the_built_in_demo_config_verbatim():
    assert DEMO_CONFIG_YAML in (ROOT / "README.md").read_text()
    config = demo_config()
    assert config.data.spec.startswith("mnist1d") and config.quantize.mode == "int8"
    assert config.student.max_mac_fraction <= 0.05
