"""Conversion speed at COCO scale: posepipe's converter against Ultralytics' convert_coco.

Usage: python bench/convert_speed.py [--root DIR] [--images N] [--annotations N] [--repeat R]

Makes a COCO-scale person-keypoints dataset (bench/coco_scale.py), then runs each converter
in a fresh Python process, alternating, R times, and prints wall times (whole process and
inside the conversion call), the ratio and the peak memory of each, and checks that both
wrote the same labels. posepipe's run does more than convert_coco does: it also checks
every image (a regular file, its size against its header, a complete JPEG or PNG) and
hard-links the images into the dataset. A third run measures the floor: parsing the JSON
and creating the output files alone.

The data and outputs go to a tmpfs (/dev/shm) by default: on this VM's disk, creating tens of
thousands of small files takes from 0.5 to 15 s depending on earlier deletes, which would
measure the disk, not the converters.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent / "workflow"
sys.path[:0] = [str(WORKFLOW), str(HERE)]

ULTRALYTICS = """
import json, sys, time
start = time.perf_counter()
from ultralytics.data.converter import convert_coco
begin = time.perf_counter()
convert_coco(sys.argv[1], sys.argv[2], use_keypoints=True, cls91to80=False)
print(json.dumps({"inside": time.perf_counter() - begin, "imports": begin - start}))
"""

POSEPIPE = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
sys.path.insert(0, sys.argv[4])
from posepipe.dataset.convert import Split, convert
begin = time.perf_counter()
convert({"train": Split(Path(sys.argv[1]), Path(sys.argv[2]))}, Path(sys.argv[3]), threads=int(sys.argv[5]))
print(json.dumps({"inside": time.perf_counter() - begin, "imports": begin - start}))
"""


# The floor: what no converter of this design can skip, parsing the JSON (posepipe's typed
# decoder, the fastest here) and creating the output files (a hard link and a label file per image).
FLOOR = """
import json, os, sys, time
from pathlib import Path
start = time.perf_counter()
sys.path.insert(0, sys.argv[4])
from posepipe.dataset.coco_json import read_coco
begin = time.perf_counter()
coco = read_coco(Path(sys.argv[1]))
source, out = sys.argv[2], Path(sys.argv[3])
(out / "images").mkdir(parents=True)
(out / "labels").mkdir()
images, labels = str(out / "images"), str(out / "labels")
for image in coco.images:
    os.link(f"{source}/{image.file_name}", f"{images}/{image.file_name}")
    fd = os.open(f"{labels}/{image.file_name.rsplit('.', 1)[0]}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.close(fd)
print(json.dumps({"inside": time.perf_counter() - begin, "imports": begin - start}))
"""


def run_measured(code: str, args: list[str], env: dict) -> dict:
    """Run `code` in a fresh interpreter; wall time, peak RSS (from wait4) and its own timings."""
    begin = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - begin
    if status != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(args)}")
    inner = json.loads(output.decode().strip().splitlines()[-1])
    return {"process": wall, "peak_mb": usage.ru_maxrss / 1024, **inner}


def same_labels(ours: Path, theirs: Path) -> tuple[int, float]:
    """Files compared and the largest difference; fails on any shape mismatch."""
    from posepipe.dataset.label_text import read_label_file

    compared, worst = 0, 0.0
    for path in theirs.rglob("*.txt"):
        a, b = read_label_file(ours / path.relative_to(theirs)), read_label_file(path)
        if a.shape != b.shape:
            raise SystemExit(f"labels differ in shape: {path.name} {a.shape} vs {b.shape}")
        if a.size:
            worst = max(worst, float(abs(a - b).max()))
        compared += 1
    return compared, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = "/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()
    parser.add_argument("--root", default=default_root, help="where data and outputs go (default: a tmpfs)")
    parser.add_argument("--images", type=int, default=57_000)
    parser.add_argument("--annotations", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="posepipe's threads")
    options = parser.parse_args()

    import coco_scale

    work = Path(tempfile.mkdtemp(prefix="posepipe-bench-", dir=options.root))
    try:
        began = time.perf_counter()
        json_path, image_dir = coco_scale.make(work / "coco", options.images, options.annotations)
        size_mb = json_path.stat().st_size / 1e6
        print(
            f"dataset: {options.images} images, {options.annotations} annotations, {size_mb:.0f} MB JSON "
            f"(made in {time.perf_counter() - began:.0f} s) under {work}; posepipe threads: {options.threads}"
        )
        env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(work / "yolo-config")}
        results = {"ultralytics": [], "posepipe": [], "floor": []}
        for attempt in range(options.repeat):
            theirs, ours = work / f"ultralytics-{attempt}", work / f"posepipe-{attempt}"
            results["ultralytics"].append(run_measured(ULTRALYTICS, [str(json_path.parent), str(theirs)], env))
            results["posepipe"].append(
                run_measured(
                    POSEPIPE, [str(json_path), str(image_dir), str(ours), str(WORKFLOW), str(options.threads)], env
                )
            )
            floor = [str(json_path), str(image_dir), str(work / f"floor-{attempt}"), str(WORKFLOW)]
            results["floor"].append(run_measured(FLOOR, floor, env))
        compared, worst = same_labels(ours / "labels" / "train", theirs / "labels" / json_path.stem)
        best = {name: min(runs, key=lambda r: r["process"]) for name, runs in results.items()}
        print(f"{'converter':<12} {'process s':>10} {'in call s':>10} {'peak MB':>9}   (best of {options.repeat})")
        for name, run in best.items():
            print(f"{name:<12} {run['process']:>10.2f} {run['inside']:>10.2f} {run['peak_mb']:>9.0f}")
        ratio = best["ultralytics"]["process"] / best["posepipe"]["process"]
        ratio_inside = best["ultralytics"]["inside"] / best["posepipe"]["inside"]
        print(f"speed ratio (ultralytics / posepipe): {ratio:.2f}x whole process, {ratio_inside:.2f}x in the call")
        above = best["posepipe"]["process"] / best["floor"]["process"]
        print(f"floor (parse the JSON, create the output files): posepipe takes {above:.2f}x the floor's time")
        print(f"labels: {compared} files compared, largest difference {worst:.2e}")
        if worst > 1e-6:
            raise SystemExit("labels differ by more than 1e-6")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
