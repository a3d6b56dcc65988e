"""The documentation against the code it describes: every relative link in README.md and docs/*.md
resolves (a file, and for ``#anchor`` a heading GitHub slugs to it), the README's stage map lists every
rule that runs a script with that script and the padlib function it calls, the expected-results table
has the form padlib.report.readme_table writes, and the override example in docs/configuration.md is
what the run plan computes."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from padlib.config import merge_config, validate_config
from padlib.plan import Plan
from padlib.report import readme_table

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """``text`` without fenced code blocks, and code spans emptied: links there are not links."""
    return CODE_SPAN.sub("``", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text lower-cased, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: — not this repository's
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target} (no heading with anchor #{anchor} in {resolved.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Where this differs, and why\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#where-this-differs-and-why) [ok](#page) "
                    "[gone](missing.md) [wrong](other.md#where-this-differs) `[code](missing.md)`\n\n"
                    "```\n[fenced](missing.md)\n```\n")
    assert broken_links(page) == [f"missing.md (no file {tmp_path / 'missing.md'})",
                                  "other.md#where-this-differs (no heading with anchor #where-this-differs in other.md)"]


def test_slugs_follow_github():
    assert slug("The paper's datasets on a GPU or a SLURM cluster") == "the-papers-datasets-on-a-gpu-or-a-slurm-cluster"
    assert slug("Stages, from rule to code") == "stages-from-rule-to-code"
    assert slug("`make run`: SASRec and PAD, seed 0") == "make-run-sasrec-and-pad-seed-0"
    assert slug("Prime Pantry: 3 seeds") == "prime-pantry-3-seeds"


# -- the stage map ------------------------------------------------------------------------------


def rule_scripts() -> dict[str, str]:
    """rule → the script it runs (a repository path), for every rule in rules/*.smk with a ``script:``."""
    scripts = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            script = re.search(r"^\s+script:\s*\n\s+\"([^\"]+)\"", block, re.M)
            if name and script:
                scripts[name.group(1)] = str((smk.parent / script.group(1)).resolve().relative_to(REPO))
    return scripts


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the Markdown table whose header row starts with ``header``, backticks removed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def stage_map() -> dict[str, dict[str, Any]]:
    rows = table_rows(README.read_text(), "| rule | script | padlib function | config | tests |")
    return {rule.strip("`"): {"script": script.strip("`"), "function": function.strip("`"),
                              "config": re.findall(r"`([^`]+)`", config) if not config.startswith("—") else [],
                              "tests": re.findall(r"`([^`]+)`", tests)}
            for rule, script, function, config, tests in rows}


def defines(module: Path, name: str) -> bool:
    """Whether a module defines ``name`` at its top level (a function, class or assignment)."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(getattr(target, "id", None) == name for target in targets):
            return True
    return False


def test_the_stage_map_lists_every_rule_with_its_script():
    assert {rule: row["script"] for rule, row in stage_map().items()} == rule_scripts()


@pytest.mark.parametrize("rule", sorted(rule_scripts()))
def test_the_stage_map_names_the_function_the_script_calls(rule):
    row = stage_map()[rule]
    module, _, name = row["function"].rpartition(".")
    source = REPO / (module.replace(".", "/") + ".py")
    assert defines(source, name), f"{row['function']}: not defined in {source.relative_to(REPO)}"
    script = (REPO / row["script"]).read_text()
    assert re.search(rf"^from {re.escape(module)} import .*\b{name}\b", script, re.M), \
        f"{row['script']} does not import {name} from {module}"
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())["properties"]
    assert all(key.split(".")[0] in schema for key in row["config"]), row["config"]
    assert row["tests"] and all((REPO / path).is_file() for path in row["tests"]), row["tests"]


# -- the expected-results table -------------------------------------------------------------------


def write_report_csv(path: Path, seeds: list[int]) -> Path:
    """A report.csv with the report stage's columns (padlib.report.table.metric_rows)."""
    rows = []
    for model, variant, base in (("SASRec", "sasrec", 0.05), ("PAD", "pad", 0.07)):
        for seed in seeds:
            value = base + 0.001 * seed
            rows.append({"model": model, "backbone": "sasrec", "encoder": "" if variant == "sasrec" else "smollm2",
                         "variant": variant, "reference": "sasrec", "seed": seed, "users": 938,
                         "valid nDCG@10": value, "HR@10": 2 * value, "nDCG@10": value,
                         **{f"{g} {m}@10": value / (i + 1) for i, g in enumerate(("warm", "median", "cold"))
                            for m in ("HR", "nDCG")},
                         "data s": 1.0, "pretrain s": 10.0, "evaluate s": 2.0, "best epoch": 5})
    pl.DataFrame(rows).write_csv(path)
    return path


def block_of(text: str) -> list[str]:
    start, end = text.index(readme_table.START), text.index(readme_table.END)
    return [line for line in text[start:end + len(readme_table.END)].splitlines() if line]


def test_the_readme_table_has_the_form_the_script_writes(tmp_path, capsys):
    csv = write_report_csv(tmp_path / "report.csv", [0])
    assert readme_table.main([str(csv), "--commit", "abc1234"]) == 0
    written, readme = block_of(capsys.readouterr().out), block_of(README.read_text())
    assert readme[:3] == written[:3]  # the start marker, the header, the separator
    width = written[1].count("|")
    assert len(readme) == len(written) and all(line.count("|") == width for line in readme[1:-2])
    assert [row.split("|")[1].strip() for row in readme[3:-2]] == ["SASRec", "PAD"]
    provenance = re.escape(written[-2]).replace("abc1234", "[0-9a-f]{7,40}").replace("938", r"[\d,]+")
    assert re.fullmatch(provenance, readme[-2]), readme[-2]
    assert readme[-1] == written[-1]


def test_the_table_holds_the_mean_and_std_over_seeds(tmp_path):
    csv = write_report_csv(tmp_path / "report.csv", [0, 1])
    table = readme_table.expected_results_table(csv).splitlines()
    assert table[2] == "| SASRec | 0.1010 ± 0.0014 | 0.0505 ± 0.0007 | 0.0505 ± 0.0007 | 0.0253 ± 0.0004 " \
                       "| 0.0168 ± 0.0002 | 0.0168 ± 0.0002 |"
    assert readme_table.provenance(csv, "abc1234") == "Seeds 0, 1, test split, 938 users; `make run` at commit `abc1234`."


def test_rewriting_the_readme_changes_only_its_block(tmp_path):
    csv = write_report_csv(tmp_path / "report.csv", [0])
    readme = tmp_path / "README.md"
    readme.write_text(README.read_text())
    readme_table.main([str(csv), "--readme", str(readme), "--commit", "abc1234"])
    before, after = README.read_text(), readme.read_text()
    cut = lambda text: text[:text.index(readme_table.START)] + text[text.index(readme_table.END):]  # noqa: E731
    assert cut(after) == cut(before)
    assert "| PAD | 0.1400 | 0.0700 | 0.0700 | 0.0350 | 0.0233 | 0.0233 |" in after
    readme.write_text("no markers here")
    with pytest.raises(ValueError, match="no block"):
        readme_table.main([str(csv), "--readme", str(readme), "--commit", "abc1234"])


# -- the configuration example --------------------------------------------------------------------


def yaml_after(marker: str, text: str) -> Any:
    match = re.search(rf"<!-- example: {marker} -->\n```yaml\n(.*?)^```", text, re.S | re.M)
    assert match, f"no yaml block after the marker {marker!r}"
    return yaml.safe_load(match.group(1))


def test_the_configuration_example_is_what_the_plan_computes():
    text = (REPO / "docs/configuration.md").read_text()
    config = merge_config(yaml.safe_load((REPO / "config.yaml").read_text()), yaml_after("overlay", text))
    plan = Plan.from_config(validate_config(config, REPO / "schemas/config.schema.yaml"))
    for stage, expected in yaml_after("stage params", text).items():
        rule, name = stage.split("/")
        params = plan.stage_params(rule, "sasrec", name)
        for key, value in expected.items():
            actual = params
            for part in key.split("."):
                actual = actual[part]
            if isinstance(value, dict):
                actual = {k: actual[k] for k in value}
            assert actual == value, f"{stage} {key}"


def test_the_configuration_reference_is_current():
    """docs/configuration.md's table of every key is what the schema gives now (make config-reference)."""
    from padlib.config_reference import END, START, reference_block

    page = (REPO / "docs" / "configuration.md").read_text()
    current = page[page.index(START):page.index(END) + len(END)]
    assert current == reference_block(REPO / "schemas" / "config.schema.yaml")
    assert "| `align.estimator` | `vstat` \\| `tllib` | `tllib` |" in current
