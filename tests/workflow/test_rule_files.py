"""The rule files, read as text: each names only rules of its own file or of one included
before it, a path a rule writes is typed once (its output; other rules take
`rules.<name>.output`), and common.smk holds the config and input functions only."""

import re
from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow"
INCLUDE = re.compile(r'^include: "(.+)"$', re.M)
RULE = re.compile(r"^rule (\w+):", re.M)
REFERENCE = re.compile(r"\brules\.(\w+)\b")
# a rule's output section: the indented lines after `output:` up to the next keyword
OUTPUT = re.compile(r"^    output:\n((?:        .*\n)+)", re.M)
LITERAL = re.compile(r'"(results/[^"]+)"')


def rule_files() -> list[Path]:
    """The Snakefile and its rule files in the order it includes them."""
    snakefile = WORKFLOW / "Snakefile"
    return [WORKFLOW / name for name in INCLUDE.findall(snakefile.read_text())] + [snakefile]


def test_every_rule_file_is_included():
    assert {p.name for p in rule_files()} - {"Snakefile"} == {p.name for p in (WORKFLOW / "rules").glob("*.smk")}


def test_a_rule_file_names_only_rules_of_itself_or_of_files_before_it():
    defined: set[str] = set()
    late = []
    for path in rule_files():
        text = path.read_text()
        defined |= set(RULE.findall(text))
        late += [f"{path.name}: rules.{name}" for name in REFERENCE.findall(text) if name not in defined]
    assert late == []


def test_a_path_a_rule_writes_is_typed_once():
    texts = {path.name: path.read_text() for path in rule_files()}
    outputs = {
        literal: name
        for name, text in texts.items()
        for section in OUTPUT.findall(text)
        for literal in LITERAL.findall(section)
    }
    retyped = [
        f"{name} retypes {literal} (written in {origin})"
        for literal, origin in outputs.items()
        for name, text in texts.items()
        if text.count(f'"{literal}"') > (name == origin)
    ]
    assert retyped == []


def test_common_holds_no_tpu_mlir_probing_and_no_rule():
    common = (WORKFLOW / "rules" / "common.smk").read_text()
    assert "tpu_mlir" not in common and "choose_runner" not in common
    assert RULE.findall(common) == [] and REFERENCE.findall(common) == []
