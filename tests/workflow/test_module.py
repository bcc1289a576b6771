"""posepipe used the way Snakemake users use a published workflow: as a module of a workflow of
their own, with their config and data in their folder, and nothing written into posepipe's; the
data there with names and paths that a shell would run."""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support import snakemake_cli
from support.parts import require
from support.paths import POSEPIPE_VERSION, REPO
from support.runs import job_counts, tiny_config, tiny_full_config

HOSTILE_LABEL = 'o\'neil "q"; $(touch pwned-label) `id`'
HOSTILE_FOLDER = "my data; $(touch pwned-path)"


def module_snakefile(snakefile: str) -> str:
    """What `snakedeploy deploy-workflow` (0.17.1) writes as the user's workflow/Snakefile. From a
    local clone it writes the module's snakefile relative to the clone ("workflow/Snakefile"),
    which Snakemake resolves against the user's folder: the absolute path is what works."""
    return f"""from snakemake.utils import min_version


min_version("6.10.0")


configfile: "config/config.yaml"


# declare posepipe as a module
module posepipe:
    snakefile:
        {snakefile}
    config:
        config


# use all rules from posepipe
use rule * from posepipe
"""


def deploy(dest: Path, config: dict, snakefile: str = repr(str(REPO / "workflow" / "Snakefile"))) -> Path:
    """The folder snakedeploy writes: the Snakefile above, config/ (the user's own config in
    place of posepipe's example) and posepipe's profiles."""
    (dest / "workflow").mkdir(parents=True)
    (dest / "workflow" / "Snakefile").write_text(module_snakefile(snakefile))
    shutil.copytree(REPO / "config", dest / "config")
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copytree(REPO / "profiles", dest / "profiles")
    return dest


def own_dataset_config(demo_export: dict, full: bool) -> dict:
    """The tiny model on a dataset of the user's, outside both posepipe and the user's folder:
    one labelling tool's export of every image, which posepipe splits."""
    config = tiny_full_config() if full else tiny_config()
    config["datasets"] = {
        "mine": {
            "annotations": str(demo_export["annotations"]),
            "images": str(demo_export["images"]),
            "val_fraction": 0.25,
            "split_seed": 1,  # 4 of these 12 to val; seed 0 draws none of them (a 3% chance at 12 images)
        }
    }
    config["models"]["tiny"]["dataset"] = "mine"
    config.setdefault("quantize", {})["runner"] = "venv"  # no docker probe while the DAG is built
    return config


def snakemake(folder: Path, *words: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Snakemake as the user types it in their folder: no --snakefile, no --directory."""
    return snakemake_cli.run(list(words), folder, {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}, 1200)


def plan(folder: Path, *words: str, env: dict | None = None) -> dict[str, int]:
    result = snakemake(folder, *words, "--dry-run", "--quiet", "rules", env=env)
    assert result.returncode == 0, f"{words}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return job_counts(result.stdout)


def checkout_files() -> dict[str, int]:
    """Every file of the checkout with its modification time; pytest's own cache and bytecode
    aside (this test process writes those, not the workflow)."""
    return {
        str(p.relative_to(REPO)): p.stat().st_mtime_ns
        for p in REPO.rglob("*")
        if p.is_file() and not {".git", ".pytest_cache", "__pycache__", ".venv"} & set(p.relative_to(REPO).parts)
    }


CHAIN = {"convert", "train", "export_onnx", "prune", "quantize_transform", "quantize_candidate", "package"}


def test_a_module_user_s_folder_plans_the_chain_on_their_own_data(demo_export, tmp_path):
    before = checkout_files()
    user = deploy(tmp_path / "my-poses", own_dataset_config(demo_export, full=True))
    mud = plan(user, "results/tiny.mud", "--cores", "1")
    assert CHAIN <= set(mud) and "demo_dataset" not in mud, mud
    assert {"all", "app", "report_summary"} <= set(plan(user, "--cores", "1")), "rule all is the default target"
    assert checkout_files() == before, "a dry run in the user's folder wrote into posepipe's checkout"


def test_the_demo_and_the_cluster_profile_work_from_the_user_s_folder(tmp_path):
    config = tiny_config()
    config["quantize"] = {"runner": "venv"}
    user = deploy(tmp_path / "my-poses", config)
    assert {"demo_dataset", "convert", "train"} <= set(plan(user, "results/tiny/train/best.pt", "--cores", "1"))
    require("slurm")
    assert "train" in plan(user, "results/tiny/train/best.pt", "--profile", "profiles/slurm")


def test_the_package_listing_names_every_file_of_the_package():
    """A module read from git cannot list a folder: common.smk fetches the files listed."""
    listing = ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "workflow/posepipe"]
    files = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
    listed = (REPO / "workflow" / "posepipe" / "package-files.txt").read_text().split()
    package = REPO / "workflow" / "posepipe"
    assert sorted(listed) == listed and listed == sorted(
        (REPO / f).relative_to(package).as_posix() for f in files if (REPO / f).is_file()
    )


def tagged_release(cache: Path, owner_repo: str, tag: str) -> None:
    """What `github(owner_repo, ..., tag=tag)` reads: this checkout's files (committed or not)
    committed and tagged, as the bare clone Snakemake keeps in its source cache
    (`$XDG_CACHE_HOME/snakemake/snakemake/source-cache/snakemake-git-cache/github.com/OWNER/REPO`);
    with the tag there, Snakemake fetches nothing, so the github() form runs offline."""
    snapshot = cache.parent / "snapshot"
    listing = ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"]
    for name in subprocess.run(listing, capture_output=True, text=True, check=True).stdout.splitlines():
        if (REPO / name).is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, snapshot / name)
    git = ["git", "-C", str(snapshot), "-c", "user.name=posepipe", "-c", "user.email=posepipe@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", tag]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    clone = cache / "snakemake" / "snakemake" / "source-cache" / "snakemake-git-cache" / "github.com" / owner_repo
    subprocess.run(["git", "clone", "-q", "--bare", str(snapshot), str(clone)], check=True)


def test_the_github_form_with_a_tag_runs_posepipe_s_files_from_git(demo_export, tmp_path):
    """The snakefile: form snakedeploy writes for a published release; the package, schema and
    env files are read from the tagged commit, and a rule script imports the package there."""
    tag = f"v{POSEPIPE_VERSION}"
    tagged_release(tmp_path / "cache", "posepipe/posepipe", tag)
    github = f'github("posepipe/posepipe", path="workflow/Snakefile", tag="{tag}")'
    user = deploy(tmp_path / "my-poses", own_dataset_config(demo_export, full=True), snakefile=github)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert CHAIN <= set(plan(user, "results/tiny.mud", "--cores", "1", env=env))
    result = snakemake(user, "results/datasets/mine", "--cores", "1", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (user / "results" / "datasets" / "mine" / "data.yaml").is_file()
    # the package the job imported: Snakemake's copies of the tagged files (nothing else puts
    # posepipe on the job's path; pytest's pythonpath is this process's only)
    release = tmp_path / "cache/snakemake/snakemake/source-cache/hosted-git/githubfile/github.com/posepipe/posepipe"
    assert (release / tag / "workflow" / "posepipe" / "dataset" / "convert.py").is_file()


def module_commands() -> list[str]:
    """The snakemake commands of the README's section on using posepipe as a module."""
    section = re.search(r"^## Use it in your own project\n(.*?)(?=^## )", (REPO / "README.md").read_text(), re.S | re.M)
    assert section, "README: no section 'Use it in your own project'"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    return [line.split("#")[0].strip() for b in blocks for line in b.splitlines() if line.startswith("snakemake ")]


@pytest.fixture(scope="module")
def module_user(tmp_path_factory) -> Path:
    """A user's folder deployed with the demo config (the venv runner: nothing probes docker)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.setdefault("quantize", {})["runner"] = "venv"
    return deploy(tmp_path_factory.mktemp("module") / "my-poses", config)


def test_the_readme_shows_module_commands():
    assert len(module_commands()) >= 2


@pytest.mark.parametrize("command", module_commands())
def test_a_readme_module_command_plans_its_target_in_a_module_folder(module_user, command):
    words = shlex.split(command)[1:]
    if "conda" in words:
        require("conda")
    if "profiles/slurm" in words:
        require("slurm")
    target = words[0] if words and not words[0].startswith("-") else None
    planned = plan(module_user, *words, "--forceall")
    assert planned and ("all" in planned) == (target is None), (command, planned)


def hostile_export(folder: Path) -> dict[str, Path]:
    """The demo's 12 images as one export, in a folder named like a shell command, with a category
    named like one."""
    from posepipe.dataset import demo

    export = {"annotations": folder / HOSTILE_FOLDER / "every image.json", "images": folder / HOSTILE_FOLDER / "images"}
    demo.generate(3, {"all": 12}, 320, 240, {"all": export["annotations"]}, {"all": export["images"]})
    coco = json.loads(export["annotations"].read_text())
    coco["categories"][0]["name"] = HOSTILE_LABEL
    export["annotations"].write_text(json.dumps(coco))
    return export


def test_the_tiny_chain_builds_in_the_user_s_folder_and_nowhere_else(tmp_path, tpu_mlir_venv):
    """Through the .mud, on hostile names: they arrive intact and no shell runs them."""
    before = checkout_files()
    export = hostile_export(tmp_path)
    config = own_dataset_config(export, full=True)
    config["quantize"]["recipes"] = [{"name": "bf16", "precision": "BF16"}]  # the chain, without a calibration
    user = deploy(tmp_path / "my-poses", config)
    result = snakemake(user, "results/tiny.mud", "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    for output in ("results/tiny.mud", "results/tiny/tiny.cvimodel", "results/tiny/provenance.json", "results/logs"):
        assert (user / output).exists(), output
    assert checkout_files() == before, "the build wrote into posepipe's checkout"
    assert f"labels = {HOSTILE_LABEL}" in (user / "results" / "tiny.mud").read_text()
    data = yaml.safe_load((user / "results" / "datasets" / "mine" / "data.yaml").read_text())
    assert data["names"] == {0: HOSTILE_LABEL}
    assert not list(tmp_path.rglob("pwned*")) and not list(REPO.rglob("pwned*"))
    provenance = json.loads((user / "results" / "tiny" / "provenance.json").read_text())
    assert {entry["path"] for entry in provenance["inputs"].values()} >= {str(export["annotations"])}
    # the one export was split, and the record of which images went where is in provenance
    record_file = user / "results" / "datasets" / "mine" / "split.json"
    record = json.loads(record_file.read_text())
    assert sorted(record["train"] + record["val"]) == sorted(p.name for p in export["images"].iterdir())
    dataset = provenance["dataset"]
    assert dataset["split"]["images"] == {"train": len(record["train"]), "val": len(record["val"])}
    assert dataset["splits"]["val"]["images"] == len(record["val"]) > 0
    assert dataset["split_record"]["sha256"] == hashlib.sha256(record_file.read_bytes()).hexdigest()
