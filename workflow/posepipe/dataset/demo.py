"""Seeded synthetic COCO-keypoints dataset: stick figures with the 17 COCO person keypoints.

The demo lets the default config run on a fresh offline machine. Figures face the camera and
are drawn left/right symmetric, so horizontal-flip augmentation with the COCO flip_idx stays
consistent (a person's left side is on the image's right).

Visibility follows COCO's conventions by rules a model can see in the pixels: a keypoint cut off
by the frame or behind an opaque panel drawn in front of the figure is unlabelled (v=0, as COCO's
annotators leave most hidden points), one behind a translucent panel is labelled occluded (v=1),
the rest visible (v=2). Panels cover a figure from a random height down, so about a third of the
keypoints end up unlabelled, as in COCO's person category.
"""

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COCO_KEYPOINTS = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
]
# 1-based keypoint pairs, as in COCO's person category.
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
    [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip


def _limb(start: np.ndarray, angle_deg: float, length: float) -> np.ndarray:
    """End point of a limb of `length` leaving `start` at `angle_deg` (0 = straight down)."""
    a = math.radians(angle_deg)
    return start + length * np.array([math.sin(a), math.cos(a)])


def figure_keypoints(rng: np.random.Generator, height: float) -> np.ndarray:
    """17 x 2 keypoint offsets of one figure, relative to its hip centre, in pixels (y down)."""
    h = height
    lean = rng.uniform(-8, 8)
    hip = np.zeros(2)
    neck = _limb(hip, 180 + lean, 0.30 * h)
    side = np.array([1.0, 0.0])  # a person facing the camera has its left side on image-right
    points = {
        "left_hip": hip + 0.09 * h * side,
        "right_hip": hip - 0.09 * h * side,
        "left_shoulder": neck + 0.12 * h * side,
        "right_shoulder": neck - 0.12 * h * side,
    }
    head = _limb(neck, 180 + lean, 0.15 * h)
    points["nose"] = head + np.array([0, 0.02 * h])
    points["left_eye"] = head + np.array([0.045 * h, -0.025 * h])
    points["right_eye"] = head + np.array([-0.045 * h, -0.025 * h])
    points["left_ear"] = head + np.array([0.09 * h, 0.0])
    points["right_ear"] = head + np.array([-0.09 * h, 0.0])
    for name, sign in (("left", 1), ("right", -1)):
        # positive angles swing a limb outwards, away from the body's midline
        shoulder_angle = rng.uniform(-10, 150)
        elbow = _limb(points[f"{name}_shoulder"], sign * shoulder_angle, 0.17 * h)
        wrist = _limb(elbow, sign * (shoulder_angle + rng.uniform(-20, 90)), 0.15 * h)
        thigh_angle = rng.uniform(-10, 30)
        knee = _limb(points[f"{name}_hip"], sign * thigh_angle, 0.24 * h)
        ankle = _limb(knee, sign * (thigh_angle + rng.uniform(-25, 10)), 0.24 * h)
        points.update({f"{name}_elbow": elbow, f"{name}_wrist": wrist})
        points.update({f"{name}_knee": knee, f"{name}_ankle": ankle})
    return np.array([points[name] for name in COCO_KEYPOINTS])


def _random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, size=3))


def draw_background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A gradient with a few distractor shapes, so that the model must learn the figures."""
    top, bottom = np.array(_random_colour(rng, 40, 220)), np.array(_random_colour(rng, 40, 220))
    t = np.linspace(0, 1, height)[:, None, None]
    pixels = (top * (1 - t) + bottom * t).repeat(width, axis=1)
    pixels += rng.normal(0, 6, size=pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(10, 60), rng.uniform(10, 60)
        box = [x, y, x + w, y + h]
        if rng.random() < 0.5:
            draw.rectangle(box, fill=_random_colour(rng))
        else:
            draw.ellipse(box, fill=_random_colour(rng))
    return image


# One colour per keypoint kind, the same on both sides: a joint's colour tells what it is, and a
# flipped figure still looks right (the left/right labels swap with flip_idx).
_KIND_COLOURS = {
    "nose": (230, 40, 40),
    "eye": (250, 250, 250),
    "ear": (40, 90, 230),
    "shoulder": (250, 200, 0),
    "elbow": (0, 200, 200),
    "wrist": (250, 120, 200),
    "hip": (120, 230, 60),
    "knee": (170, 90, 250),
    "ankle": (255, 140, 0),
}
_POINT_COLOURS = [_KIND_COLOURS[name.split("_")[-1]] for name in COCO_KEYPOINTS]


def draw_figure(draw: ImageDraw.ImageDraw, points: np.ndarray, height: float, rng: np.random.Generator) -> None:
    body = _random_colour(rng, 0, 110)
    width = max(2, int(height / 22))
    for a, b in COCO_SKELETON[:12]:  # limbs and torso; the face pairs are drawn as a head
        draw.line([tuple(points[a - 1]), tuple(points[b - 1])], fill=body, width=width)
    neck = (points[5] + points[6]) / 2
    draw.line([tuple(neck), tuple(points[0])], fill=body, width=width)
    radius = 0.1 * height
    cx, cy = points[0]
    draw.ellipse([cx - radius, cy - 1.3 * radius, cx + radius, cy + 0.7 * radius], fill=body)
    dot = max(1.5, width * 0.7)
    for index, ((x, y), colour) in enumerate(zip(points, _POINT_COLOURS)):
        size = dot * (0.6 if index < 5 else 1.0)  # face points sit close together
        draw.ellipse([x - size, y - size, x + size, y + size], fill=colour)


# of the figures: a panel in front hides their lower part (v=0 there), a see-through one
# covers it (v=1 there), or none
PANELS = {"opaque": 0.7, "translucent": 0.2, "none": 0.1}


def draw_panel(
    image: Image.Image, rng: np.random.Generator, points: np.ndarray, slot: tuple[float, float]
) -> tuple[str, np.ndarray]:
    """Maybe a panel in front of a figure, from between its shoulders and its hips down to the frame's
    bottom, across its slot: ("opaque" | "translucent" | "none", which keypoints it covers)."""
    kind = str(rng.choice(list(PANELS), p=list(PANELS.values())))
    shoulders, knees = points[5:7, 1].mean(), points[13:15, 1].mean()
    top = rng.uniform(shoulders, shoulders + 0.5 * (knees - shoulders))
    left, right = slot
    covered = (points[:, 1] >= top) & (points[:, 0] >= left) & (points[:, 0] < right)
    if kind == "none":
        return kind, np.zeros(len(points), dtype=bool)
    box = tuple(int(round(v)) for v in (left, top, right, image.height))
    colour = np.array(_random_colour(rng, 60, 200), dtype=np.float32)
    region = np.asarray(image.crop(box), dtype=np.float32)
    alpha = 1.0 if kind == "opaque" else 0.45
    blended = region * (1 - alpha) + colour * alpha
    image.paste(Image.fromarray(np.round(blended).astype(np.uint8), "RGB"), box[:2])
    return kind, covered


def make_image(rng: np.random.Generator, width: int, height: int, panels: bool) -> tuple[Image.Image, list[dict]]:
    """One image and its annotations (without ids): 0 to 3 figures in separate horizontal slots,
    with panels in front of them or drawn whole."""
    image = draw_background(rng, width, height)
    draw = ImageDraw.Draw(image)
    count = int(rng.choice([0, 1, 2, 3], p=[0.06, 0.44, 0.38, 0.12]))
    annotations = []
    slot_width = width / max(count, 1)
    for slot in range(count):
        figure_height = rng.uniform(0.55, 0.95) * height
        points = figure_keypoints(rng, figure_height)
        hip = np.array(
            [
                (slot + rng.uniform(0.35, 0.65)) * slot_width,
                rng.uniform(0.50, 0.62) * height,
            ]
        )
        points = points + hip
        draw_figure(draw, points, figure_height, rng)
        panel, covered = "none", np.zeros(len(points), dtype=bool)
        if panels:
            panel, covered = draw_panel(image, rng, points, (slot * slot_width, (slot + 1) * slot_width))
        inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
        labelled = inside & ~covered if panel == "opaque" else inside
        if not labelled.any():
            continue
        visibility = np.where(labelled, np.where(covered, 1, 2), 0)
        pad = 0.06 * figure_height
        low = np.clip(points[labelled].min(axis=0) - pad, 0, [width, height])
        high = np.clip(points[labelled].max(axis=0) + pad, 0, [width, height])
        keypoints = []
        for (x, y), v in zip(points, visibility):
            keypoints += [round(float(x), 2), round(float(y), 2), int(v)] if v else [0, 0, 0]
        w, h = (high - low).tolist()
        annotations.append(
            {
                "bbox": [round(float(low[0]), 2), round(float(low[1]), 2), round(w, 2), round(h, 2)],
                "area": round(w * h * 0.55, 2),
                "iscrowd": 0,
                "category_id": 1,
                "num_keypoints": int(labelled.sum()),
                "keypoints": keypoints,
            }
        )
    return image, annotations


def generate_split(
    rng: np.random.Generator, count: int, width: int, height: int, image_dir: Path, first_id: int, panels: bool
) -> dict:
    """Write `count` JPEG images into `image_dir` and return their COCO keypoints JSON."""
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image_id = first_id + index
        image, anns = make_image(rng, width, height, panels)
        file_name = f"{image_id:012d}.jpg"
        image.save(image_dir / file_name, quality=92)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for slot, ann in enumerate(anns):
            annotations.append({"id": image_id * 10 + slot, "image_id": image_id, **ann})
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": COCO_KEYPOINTS,
        "skeleton": COCO_SKELETON,
    }
    return {"images": images, "annotations": annotations, "categories": [category]}


def generate(
    seed: int,
    split_sizes: dict[str, int],
    width: int,
    height: int,
    annotation_files: dict[str, Path],
    image_dirs: dict[str, Path],
    panels: bool = True,
) -> None:
    """Generate every split; the same arguments always give the same bytes. Without `panels`,
    every figure is drawn whole (a model then learns its boxes sooner)."""
    first_id = 1
    for split, count in split_sizes.items():
        rng = np.random.default_rng([seed, first_id])
        coco = generate_split(rng, count, width, height, Path(image_dirs[split]), first_id, panels)
        path = Path(annotation_files[split])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(coco, indent=1) + "\n")
        first_id += count
