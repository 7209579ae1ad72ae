"""The README's promises: the two set-up commands, CI running the second, links that resolve, a page that stays short."""

import re
from pathlib import Path

from edgekd.config import DEMO_CONFIG_YAML, demo_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# A README that guides: the details live in docs/.
MAX_README_LINES = 250
# Markdown links to files in the repository: [text](path) or [text](path#anchor), not URLs.
LOCAL_LINK = re.compile(r"\]\((?!https?://|mailto:)([^)#\s]+)(?:#([^)\s]*))?\)")


def broken_links(page: Path) -> list[str]:
    """Links in ``page`` to a file that does not exist, or to a heading its Markdown target lacks."""
    broken = []
    for link, anchor in LOCAL_LINK.findall(page.read_text()):
        target = (page.parent / link).resolve()
        if not target.is_file():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in heading_anchors(target):
            broken.append(f"{link}#{anchor}")
    return broken


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def readme_commands() -> list[str]:
    block = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands_and_ci_runs_the_second():
    text = README.read_text()
    assert text.index("```bash") < text.index("\n## ")
    commands = readme_commands()
    assert commands == ["pip install . && edgekd demo", "bash scripts/setup-tests.sh && python3 -m pytest -q -n 2"]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_links_into_docs_and_every_link_resolves():
    links = [link for link, _ in LOCAL_LINK.findall(README.read_text())]
    assert any(link.startswith("docs/") for link in links), "the README points to docs/ for the details"
    assert not broken_links(README), f"README has broken links: {broken_links(README)}"


def test_every_docs_page_is_linked_from_the_readme_and_its_links_resolve():
    linked = {link for link, _ in LOCAL_LINK.findall(README.read_text())}
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "CONTRIBUTING.md", ROOT / "devices" / "README.md"]:
        name = str(page.relative_to(ROOT))
        assert name in linked, f"README does not link {name}"
        assert not broken_links(page), f"{name} has broken links: {broken_links(page)}"


def test_readme_stays_a_guide():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README has {lines} lines; move details to docs/ (at most {MAX_README_LINES})"


def test_readme_shows_the_built_in_demo_config_verbatim():
    assert DEMO_CONFIG_YAML in README.read_text()
    config = demo_config()
    assert config.data.spec.startswith("mnist1d") and config.quantize.mode == "int8"
    assert config.student.max_mac_fraction <= 0.05


def test_the_readme_python_example_runs(tmp_path):
    """The README's Python example, as written, in a fresh process and folder (it runs the quick demo)."""
    import os
    import subprocess
    import sys

    section = README.read_text().split("## Python API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    completed = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "EDGEKD_DB": str(tmp_path / "store.db")},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("distillation "), lines
    assert re.fullmatch(r"\d+\.\d\d% through LiteRT, \d+\.\d\d% agreement with Keras", lines[1]), lines
    assert re.fullmatch(r"host [\d.e-]+ ms", lines[2]), lines
    assert (tmp_path / "runs" / "quick" / "student.keras").is_file()
    assert (tmp_path / "runs" / "student_f16.tflite").is_file()
