"""posepipe: COCO keypoints to a MaixCAM pose model.

Subpackages by layer, each importing only those before it in LAYERS (tests/unit/test_layers.py
holds the package to it); config_check, which checks the whole config, sits above them all."""

LAYERS = ("infra", "device", "dataset", "training", "tpu_mlir", "evaluation", "packaging")
