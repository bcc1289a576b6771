"""Rule package: the .mud MaixPy loads, its cvimodel beside it, and a zip for the device."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.package import package  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: package(
        Path(sm.input.cvimodel),
        Path(sm.input.report),
        Path(sm.input.onnx),
        Path(sm.input.dataset),
        Path(sm.input.metrics),
        Path(sm.input.provenance),
        sm.params.allow_class_count_multiple_of_3,
        sm.params.labels,
        *(Path(sm.output[key]) for key in ("mud", "cvimodel", "labels", "zip", "metrics")),
    ),
    sm.log[0],
)
