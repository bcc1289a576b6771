"""Runs inside the TPU-MLIR environment (Python 3.10): every input .npz of a folder through a
cvimodel with TPU-MLIR's host simulator, one output .npz each. One process for all images;
`model_runner.py` per image would start the runtime every time.

Usage: python cvimodel_runner.py MODEL.cvimodel INPUT_DIR OUTPUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
from tpu_mlir.python.tools.model_runner import model_inference

model, inputs, outputs = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
outputs.mkdir(parents=True, exist_ok=True)
for path in sorted(inputs.glob("*.npz")):
    with np.load(path) as data:
        result = model_inference({name: data[name] for name in data.files}, model, dump_all=False)
    np.savez(outputs / path.name, **result)
