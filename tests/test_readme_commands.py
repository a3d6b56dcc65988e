"""Every command the README shows runs as shown: its shell lines in a fresh project directory, with
the files its YAML blocks name (``# my.yaml``) written there; every ``snakemake`` line as a dry run
(they all train), the paper presets with their FILL-IN paths pointing at small fake raw files;
``pad`` lines with the README's arguments. ``make`` lines are this test suite and the run itself."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_presets import fill_in

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
pytestmark = [pytest.mark.workflow, pytest.mark.slow]  # a dozen Snakemake runs: the whole suite, not the fast tier


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced block, indentation removed."""
    found, lang, lines, indent = [], None, [], ""
    for line in text.splitlines():
        match = FENCE.match(line)
        if match and lang is None:
            lang, lines, indent = match.group(2), [], match.group(1)
        elif match and lang is not None:
            found.append((lang, lines))
            lang = None
        elif lang is not None:
            lines.append(line.removeprefix(indent))
    return found


def commands(lang_lines: list[tuple[str, list[str]]]) -> list[str]:
    """The shell lines of the bash blocks, comments and blank lines dropped."""
    out = []
    for lang, lines in lang_lines:
        if lang != "bash":
            continue
        for line in lines:
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


def write_own_data(root: Path) -> None:
    """The tables the README's own-data example names, in the shapes it describes."""
    (root / "data").mkdir(exist_ok=True)
    rows = "".join(f"c{u},s{(u * 7 + i) % 40},{1_600_000_000 + i}\n" for u in range(30) for i in range(6))
    (root / "data" / "interactions.csv").write_text("customer_id,sku,timestamp\n" + rows)
    (root / "data" / "items.csv").write_text("sku,title,description\n" +
                                            "".join(f"s{i},Item {i},A thing\n" for i in range(40)))


@pytest.fixture(scope="module")
def readme() -> list[tuple[str, list[str]]]:
    return blocks((REPO / "README.md").read_text())


def test_the_readme_shows_commands_and_files(readme):
    named = [lines[0] for lang, lines in readme if lang == "yaml" and lines and lines[0].startswith("# ")]
    assert "# my.yaml" in named
    assert sum(c.startswith("snakemake") for c in commands(readme)) >= 5


def test_every_readme_command_runs(readme, tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    for lang, lines in readme:
        if lang == "yaml" and lines and re.fullmatch(r"# [\w.-]+\.yaml", lines[0]):
            (tmp_path / lines[0][2:]).write_text("\n".join(lines[1:]) + "\n")
    write_own_data(tmp_path)
    presets = {f"configs/{p.stem}.yaml": p for p in (REPO / "configs").glob("paper-*.yaml")}
    ran = 0
    for command in commands(readme):
        words = shlex.split(command)
        if words[0] in ("make", "source"):
            continue
        if words[0] == "snakemake":
            words = [str(fill_in(tmp_path, Path(presets[w]).stem)) if w in presets
                     else str(REPO / w) if w.startswith("profiles/") else w for w in words[1:]]
            cmd = [sys.executable, "-m", "snakemake", *words, "-s", str(REPO / "Snakefile"),
                   "--directory", str(tmp_path), "--dry-run"]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
            assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        elif words[0] == "pad":
            proc = subprocess.run([sys.executable, "-m", "padlib.cli", *words[1:], "--results",
                                   str(tmp_path / "results")], capture_output=True, text=True, cwd=tmp_path)
            # nothing is trained here: the arguments parse, and the command says what is missing
            assert proc.returncode == 2 and "no trained PAD model matches" in proc.stderr, command
        else:
            subprocess.run(command, shell=True, check=True, cwd=tmp_path)
        ran += 1
    assert ran >= 8
    # the own-data example's data stage for real (its column renames must serve both tables)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "results/shop/data/items.parquet", "-s",
                           str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "--configfile",
                           "my.yaml"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
