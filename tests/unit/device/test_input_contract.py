"""One input contract (posepipe.device.input_contract): the tensor every scoring path feeds the model is
the one TPU-MLIR makes from the same image, and the config cannot contradict it."""

from posepipe.device import input_contract
from support.checks import transform_flags


def test_restating_the_contract_is_accepted_and_contradicting_it_is_refused():
    assert input_contract.contract_faults({}) == []
    restated = {"pixel_format": "rgb", "mean": [0, 0, 0], "scale": [0.003921569] * 3}  # TPU-MLIR docs' 1/255
    assert input_contract.contract_faults(restated) == []
    (fault,) = input_contract.contract_faults({"pixel_format": "bgr"})
    assert fault.startswith("quantize.pixel_format: 'bgr' contradicts the model's input (RGB") and "\n" not in fault
    assert len(input_contract.contract_faults({"mean": [0.485, 0.456, 0.406], "scale": [1, 1, 1]})) == 2


def test_model_transform_is_told_the_contract():
    told = transform_flags(160, 224)
    assert "--keep_aspect_ratio" in told and told["--pixel_format"] == "rgb"
    assert [float(v) for v in told["--mean"].split(",")] == [0.0] * 3
    assert [float(v) for v in told["--scale"].split(",")] == [1 / 255] * 3
