"""The repository, its workflow, and ../shared (present in CI, absent in a user's clone)."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


SNAKEFILE = REPO / "workflow" / "Snakefile"


SHARED = REPO.parent / "shared"


COCO_REAL = SHARED / "data" / "coco-real"


POSEPIPE_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
