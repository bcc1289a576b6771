"""The model's input, stated once: the tensor a picture becomes before the model sees it.

Ultralytics trains on RGB pixels scaled by 1/255, without a mean, letterboxed to the input size.
The MaixCAM runtime makes that tensor from a camera frame by the `.mud`'s `input_type`, `mean`
and `scale` on a centred letterbox with black padding; TPU-MLIR makes it from an image file
(calibration, model_transform's test input) by the same arguments, told by model_transform. So
the contract below feeds model_transform, the `.mud`, and every scoring path (letterbox and
to_input, here written as TPU-MLIR's own preprocessing computes them: sizes truncated to int,
`(x - mean) * scale` in float32). The config may restate it; a value that contradicts it is
refused before any job runs (contract_faults), since a model fed anything else is not the model
that was trained nor the one that was scored.
"""

import numpy as np

PIXEL_FORMAT = "rgb"
MEAN = (0.0, 0.0, 0.0)
SCALE = (1 / 255, 1 / 255, 1 / 255)
PAD_VALUE = 0  # the runtime's letterbox fill (Ultralytics trains with 114)
CONTRACT = {"pixel_format": PIXEL_FORMAT, "mean": MEAN, "scale": SCALE}


def letterbox(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """RGB uint8 image -> HxW RGB uint8: scaled to fit (bilinear), centred, padded with PAD_VALUE."""
    import cv2

    ih, iw = image.shape[:2]
    scale = min(width / iw, height / ih)
    new_w, new_h = int(iw * scale), int(ih * scale)
    resized = cv2.resize(image, (new_w, new_h)) if (new_w, new_h) != (iw, ih) else image
    canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def to_input(letterboxed: np.ndarray) -> np.ndarray:
    """HxWx3 RGB uint8 -> the model input [1, 3, H, W] = (x - MEAN) * SCALE."""
    mean = np.array(MEAN, dtype=np.float32)[None, :, None, None]
    scale = np.array(SCALE, dtype=np.float32)[None, :, None, None]
    return (letterboxed.transpose(2, 0, 1)[None].astype(np.float32) - mean) * scale


def contract_faults(quantize: dict) -> list[str]:
    """One line per configured quantize.pixel_format / mean / scale that contradicts the contract
    (numbers within a relative 1e-6 restate it: 0.003921569 is 1/255 as TPU-MLIR's docs write it)."""
    faults = []
    for key, expected in CONTRACT.items():
        if key not in quantize:
            continue
        value = quantize[key]
        same = value == expected if key == "pixel_format" else np.allclose(value, expected, rtol=1e-6, atol=0)
        if not same:
            faults.append(
                f"quantize.{key}: {value!r} contradicts the model's input ({PIXEL_FORMAT.upper()}, mean "
                f"{', '.join(map(str, MEAN))}, scale 1/255, as Ultralytics trained it): the device and every "
                "score would feed the model another tensor than the one it learnt; remove the key"
            )
    return faults
