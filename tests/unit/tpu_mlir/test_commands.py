"""The TPU-MLIR tools' settings and argument lists (posepipe.tpu_mlir.commands)."""

import pytest
from posepipe.infra.errors import PosepipeError
from posepipe.tpu_mlir.commands import settings_for_tools

GOOD = {
    "processor": "cv181x",
    "transform_tolerance": [0.99, 0.99],
    "tpu_mlir_version": "1.28.1",
}
NAMES = ["/model.22/dfl/conv/Conv_output_0", "/model.22/Sigmoid_output_0", "/model.22/Concat_2_output_0"]


def test_output_names_the_tools_cannot_take_are_refused():
    with pytest.raises(PosepipeError, match="expected three names without commas"):
        settings_for_tools(GOOD, "m", 224, 320, [*NAMES[:2], "a,b"])
    assert settings_for_tools(GOOD, "m", 224, 320, NAMES).output_names == tuple(NAMES)
