"""Ultralytics training: offline, seeded, and resumable after a kill.

Ultralytics trains in a run folder that is not a rule output (`results/{model}/train-run/`):
Snakemake deletes a failed job's outputs, and the checkpoint and the growing results.csv must
survive a SIGKILL or a Slurm time limit. After every epoch the last checkpoint is also copied
atomically to `resume.pt` (Ultralytics writes last.pt in place, so a kill mid-write could
corrupt it). When the rule runs again with the same settings, training resumes from there;
with other settings the run folder starts over. The finished files are then copied to the
rule's outputs.
"""

import hashlib
import json
import logging
import os
import platform
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from posepipe.dataset.data_yaml import read_data_yaml, runtime_data_yaml
from posepipe.infra.errors import PosepipeError
from posepipe.infra.staging import staged
from posepipe.training.ultralytics_env import prepare, run_folder, torch_device

log = logging.getLogger("posepipe.training.train")

SETTINGS_FILE = "posepipe-train.json"
RESUME_FILE = "resume.pt"


@dataclass(frozen=True)
class TrainSettings:
    """What decides the trained weights; a run folder is resumed only when these match."""

    architecture: str
    imgsz: int
    epochs: int
    batch: int
    seed: int
    patience: int
    dataset_digest: str


def dataset_digest(dataset_dir: Path) -> str:
    """Digest of the dataset's labels and data.yaml (images are linked from the COCO inputs)."""
    digest = hashlib.sha256()
    root = Path(dataset_dir)
    files = [root / "data.yaml", *sorted((root / "labels").rglob("*.txt"))]
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _architecture_source(architecture: str) -> str:
    """A model YAML name is built from scratch; anything else must be a local weights file."""
    if architecture.endswith((".yaml", ".yml")):
        return architecture
    path = Path(architecture)
    if not path.is_file():
        raise PosepipeError(
            f"config: architecture '{architecture}': no such file (pretrained weights are a local .pt path; "
            "nothing is downloaded)"
        )
    return str(path.resolve())


def _read_checkpoint_epoch(path: Path) -> tuple[int, int] | None:
    """(completed epochs, configured epochs) of a resumable checkpoint, or None if unusable."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        return checkpoint["epoch"] + 1, checkpoint["train_args"]["epochs"]
    except Exception as error:  # a truncated or foreign file: start over rather than fail
        log.warning("%s is not a usable checkpoint (%s): starting over", path, error)
        return None


def _resume_point(run_dir: Path, settings: TrainSettings) -> Path | None:
    """The checkpoint to resume from, or None after clearing a run folder that cannot be resumed."""
    recorded = run_dir / SETTINGS_FILE
    checkpoint = run_dir / "weights" / RESUME_FILE
    if recorded.is_file() and json.loads(recorded.read_text()) == asdict(settings) and checkpoint.is_file():
        progress = _read_checkpoint_epoch(checkpoint)
        if progress and 0 < progress[0] < progress[1]:
            log.info("resuming %s after epoch %d of %d", run_dir, *progress)
            _forget_epochs_after(run_dir / "results.csv", progress[0])
            return checkpoint
    if run_dir.exists():
        log.info("starting over in %s (no resumable run with these settings)", run_dir)
        shutil.rmtree(run_dir)
    return None


def _forget_epochs_after(results_csv: Path, epoch: int) -> None:
    """Drop results.csv rows the checkpoint does not hold: a kill between Ultralytics writing an
    epoch's row and saving its checkpoint would otherwise list that epoch twice after resuming."""
    if not results_csv.is_file():
        return
    header, *rows = results_csv.read_text().splitlines(keepends=True)
    kept = [row for row in rows if int(float(row.split(",")[0])) <= epoch]
    results_csv.write_text(header + "".join(kept))


def _keep_resume_copy(trainer) -> None:
    """Ultralytics callback after each checkpoint save: copy last.pt to resume.pt atomically."""
    last = Path(trainer.last)
    if last.is_file():
        with staged(last.with_name(RESUME_FILE)) as partial:
            shutil.copyfile(last, partial)


def _fit(
    source: str,
    resume_from: Path | None,
    run_dir: Path,
    settings: TrainSettings,
    data_yaml: Path,
    *,
    flip: bool,
    device: str,
    threads: int,
) -> None:
    """Ultralytics' training: from `source`, or resumed from its last checkpoint; `flip` when the
    dataset says which keypoints mirror which."""
    from ultralytics import YOLO

    model = YOLO(str(resume_from) if resume_from else source)
    model.add_callback("on_model_save", _keep_resume_copy)
    common = dict(device=device, workers=max(0, threads), data=str(data_yaml))
    if resume_from:
        model.train(resume=str(resume_from), **common)
        return
    model.train(
        **common,
        epochs=settings.epochs,
        imgsz=settings.imgsz,
        batch=settings.batch,
        seed=settings.seed,
        deterministic=True,
        patience=settings.patience,
        **run_folder(run_dir),
        plots=True,
        amp=False,  # float32 on a GPU too: reproducible weights over AMP's speed (docs/cluster.md)
        # no flip_idx: the keypoints have no known mirror image, so images are never flipped
        **({} if flip else {"fliplr": 0.0}),
    )


def train(
    dataset_dir: Path,
    architecture: str,
    run_dir: Path,
    outputs: dict[str, Path],
    *,
    imgsz: list[int],
    epochs: int,
    batch: int,
    seed: int,
    patience: int,
    device: str,
    threads: int,
    config_dir: Path,
) -> None:
    """Train (or resume) a pose model; copy best.pt, results.csv, args.yaml and the curves to `outputs`."""
    prepare(config_dir)
    import torch

    torch.set_num_threads(max(1, threads))
    device = torch_device(device, torch.cuda.is_available())
    source = _architecture_source(architecture)
    run_dir = Path(run_dir).resolve()
    # Square training at the longer side; export and validation use the exact height x width.
    settings = TrainSettings(
        architecture=architecture,
        imgsz=max(imgsz),
        epochs=epochs,
        batch=batch,
        seed=seed,
        patience=patience,
        dataset_digest=dataset_digest(dataset_dir),
    )
    resume_from = _resume_point(run_dir, settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SETTINGS_FILE).write_text(json.dumps(asdict(settings), indent=1) + "\n")
    data_yaml = runtime_data_yaml(dataset_dir, run_dir / "data.yaml")

    flip = "flip_idx" in read_data_yaml(dataset_dir)
    _fit(source, resume_from, run_dir, settings, data_yaml, flip=flip, device=device, threads=threads)
    (run_dir / "machine.json").write_text(json.dumps(machine(max(1, threads), device), indent=1, sort_keys=True) + "\n")
    _publish(run_dir, outputs)


def machine(threads: int, device: str) -> dict:
    """What decides training's floating-point results besides its inputs: the device it ran on
    (`cpu`, or a GPU index), CPU kernels differ between processor types (torch picks them by the
    capability it detects), and so do sums split over another thread count. The same inputs
    give the same bytes only on the same kind."""
    import torch

    return {
        "device": device,
        "cpu_model": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": threads,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _publish(run_dir: Path, outputs: dict[str, Path]) -> None:
    """Copy what training produced to the rule's outputs; the paths Ultralytics records (data,
    project, save_dir) become relative to the working folder, so the files do not depend on it."""
    produced = {
        "weights": run_dir / "weights" / "best.pt",
        "results": run_dir / "results.csv",
        "args": run_dir / "args.yaml",
        "curves": run_dir / "results.png",
        "machine": run_dir / "machine.json",
    }
    working_folder = f"{Path.cwd().resolve()}{os.sep}"
    for key, target in outputs.items():
        source = produced[key]
        if not source.is_file():
            raise PosepipeError(f"{source}: training finished without writing it")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        if key == "weights":
            import torch

            checkpoint = torch.load(source, map_location="cpu", weights_only=False)
            checkpoint["train_args"] = {
                name: value.replace(working_folder, "") if isinstance(value, str) else value
                for name, value in checkpoint["train_args"].items()
            }
            torch.save(checkpoint, target)
        elif key == "args":
            Path(target).write_text(source.read_text().replace(working_folder, ""))
        else:
            shutil.copyfile(source, target)
