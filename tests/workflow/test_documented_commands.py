"""Every Snakemake command of the README, config/README.md and docs/ plans what it says: dry-run in
the repository, it must plan exactly the jobs of its target (the first word after `snakemake`,
by the README's rule) or, without one, of `rule all`. Options such as `--cache`, `--configfile`
and `--quiet` take every following word as their own, which once turned a documented target into
a rule name."""

import functools
import os
import re
import shlex
import shutil

import pytest
from support import snakemake_cli
from support.parts import require
from support.paths import REPO
from support.runs import job_counts

DOCUMENTS = (
    "README.md",
    "config/README.md",
    *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")),
)
# commands that do not plan jobs
NOT_A_PLAN = ("--report", "--summary", "--lint", "--unlock")


def documented_commands() -> list[str]:
    commands = []
    for document in DOCUMENTS:
        text = (REPO / document).read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            commands += [line.split("#")[0].strip() for line in block.splitlines() if "snakemake " in line]
        commands += re.findall(r"`((?:\.venv/bin/)?snakemake [^`]*)`", text)
    return [c for c in dict.fromkeys(commands) if not any(option in c.split() for option in NOT_A_PLAN)]


COMMANDS = documented_commands()


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """The jobs a dry run of these words plans, in a copy of the checkout as a newcomer's clone
    has it (Snakemake writes its records where it runs, and other tests watch the checkout).
    Several commands share the plain plan of their target, so each plan is made once."""
    clone = tmp_path_factory.mktemp("clone") / "posepipe"
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", ".*cache"))
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(tmp_path_factory.mktemp("output-cache"))}

    @functools.cache
    def planned(*words: str) -> dict[str, int]:
        result = snakemake_cli.run([*words, "--dry-run", "--forceall", "--quiet", "rules"], clone, env, timeout=300)
        assert result.returncode == 0, f"{' '.join(words)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        return job_counts(result.stdout)

    return planned


def test_the_readme_documents_commands():
    assert len(COMMANDS) >= 4 and any("--cache" in c for c in COMMANDS)
    assert len(DOCUMENTS) >= 8, "the docs/ pages are read too"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    pages = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert pages and [p for p in pages if f"](docs/{p})" not in readme] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_documented_command_plans_its_target(command, plan):
    words = shlex.split(command)[1:]
    words = [("1" if word == "N" and words[i - 1] == "--cores" else word) for i, word in enumerate(words)]
    if "conda" in words:
        require("conda")
    if "profiles/slurm" in words:
        require("slurm")
    target = [words[0]] if words and not words[0].startswith("-") else []
    after_options = [w for w in words[1:] if w.startswith("results/")]
    assert not after_options, f"{command}: put the target first; an option would take {after_options} as its value"
    # a scatter count changes how many jobs score the candidates, and it is meant to
    scatter = [word for i, word in enumerate(words) if i and words[i - 1] == "--set-scatter"]
    expected = plan(*target, "--cores", "1", *(["--set-scatter", *scatter] if scatter else []))
    assert plan(*words) == expected
    assert ("all" in expected) == (not target)
