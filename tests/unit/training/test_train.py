"""Training, validation and export: offline, resumable, reproducible (real Ultralytics runs)."""

import pytest
from posepipe.training.ultralytics_env import torch_device


@pytest.mark.parametrize(
    ("requested", "cuda", "given"),
    [("auto", True, "0"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("1", True, "1"), ("0", False, "0")],
)
def test_auto_takes_the_gpu_torch_sees_and_other_values_are_kept(requested, cuda, given):
    assert torch_device(requested, cuda) == given
