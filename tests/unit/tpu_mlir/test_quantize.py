"""TPU-MLIR quantization (real tools, venv route), INT8 accuracy, and the .mud package."""

import logging

from posepipe.tpu_mlir.quantize import calibration_set


def test_calibration_draws_from_the_train_split_never_a_val_image(demo_data, tmp_path, caplog):
    """The gate scores candidates on the val images: a calibration that saw them would flatter
    the INT8 figures. The sample is seeded: the same images every time, on every machine."""
    from posepipe.dataset.convert import Split, convert
    from posepipe.dataset.data_yaml import split_images

    convert({name: Split(**files) for name, files in demo_data.items()}, tmp_path / "dataset")
    train, val = (split_images(tmp_path / "dataset", split) for split in ("train", "val"))
    sample = calibration_set(train, 5)
    assert len(sample) == 5 and sample == calibration_set(train, 5) and set(sample) < set(train)
    assert sample != train[:5] or len(train) == 5, "a random sample, not the first images"
    val_bytes = {p.read_bytes() for p in val}
    assert not any(p.read_bytes() in val_bytes for p in sample)
    caplog.set_level(logging.INFO, logger="posepipe.tpu_mlir.quantize")
    assert calibration_set(train, 100) == train  # fewer than asked: all of them, and the log says so
    assert f"calibration: 100 images asked for, the train split has {len(train)}" in caplog.messages
