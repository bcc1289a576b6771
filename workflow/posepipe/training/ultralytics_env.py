"""Ultralytics kept offline and out of the home directory, and its runs in folders of ours.

Call `prepare()` before the first `import ultralytics`: the settings are read at import time.
Without YOLO_OFFLINE, importing it probes the network; without a font in its settings folder,
every dataset check downloads Arial.ttf; without YOLO_CONFIG_DIR it writes to ~/.config.
"""

import os
import shutil
from pathlib import Path


def keep_caches_in(state_dir: Path) -> None:
    """Caches of the libraries a rule uses go to `state_dir`, not the home directory: matplotlib's,
    and onnxruntime's telemetry device id (under $XDG_CACHE_HOME, default ~/.cache)."""
    state_dir = Path(state_dir).resolve()
    os.environ.setdefault("MPLCONFIGDIR", str(state_dir / "matplotlib"))
    os.environ["XDG_CACHE_HOME"] = str(state_dir / "cache")


def prepare(config_dir: Path) -> Path:
    """Point Ultralytics' settings at `config_dir`, turn off network probes and pip, and put a
    font where `check_font` looks, so that no dataset check tries to download Arial.ttf."""
    config_dir = Path(config_dir).resolve()
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    keep_caches_in(config_dir)
    font = font_dir / "Arial.ttf"
    if not font.exists():
        import matplotlib  # ships DejaVuSans.ttf; any TTF satisfies check_font

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        shutil.copyfile(source, font)
    return config_dir


def run_folder(folder: Path) -> dict:
    """The arguments that make Ultralytics' train or val write into exactly `folder`: a relative
    project lands under runs/<task>/, and without exist_ok a second run becomes `name-2`."""
    folder = Path(folder).resolve()
    return {"project": str(folder.parent), "name": folder.name, "exist_ok": True}


def torch_device(requested: str, cuda_available: bool) -> str:
    """The device Ultralytics is given: for `auto`, the first GPU torch sees, else the CPU (on a
    cluster, the GPU Slurm granted is the only one the job sees); any other value as given."""
    if requested != "auto":
        return requested
    return "0" if cuda_available else "cpu"
