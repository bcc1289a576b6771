"""Runs inside the TPU-MLIR environment: every image of a folder through TPU-MLIR's own
preprocessing (the class run_calibration and model_transform use), with the arguments
model_transform.py is told, one .npy each.

Usage: python preprocess_images.py HEIGHT WIDTH MEAN SCALE PIXEL_FORMAT IMAGE_DIR OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
from tpu_mlir.python.utils.preprocess import preprocess

height, width, mean, scale, pixel_format, images, out = sys.argv[1:]
step = preprocess()
step.config(
    input_shapes=[[1, 3, int(height), int(width)]],
    keep_aspect_ratio=True,  # model_transform's --keep_aspect_ratio; pad_value and pad_type as it leaves them
    mean=mean,
    scale=scale,
    pixel_format=pixel_format,
    channel_format="nchw",
)
Path(out).mkdir(exist_ok=True)
for image in sorted(Path(images).iterdir()):
    np.save(Path(out) / f"{image.stem}.npy", step.run(str(image)))
