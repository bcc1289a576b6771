"""TPU-MLIR: its environments (venv or docker), its commands, and the quantization candidates
built and simulated with it. `guest/` holds a script that runs inside TPU-MLIR's own Python,
copied into a work folder: not a module of this package. Imports infra, device and dataset."""
