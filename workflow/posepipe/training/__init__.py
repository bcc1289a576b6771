"""Ultralytics kept offline: training, validation, export, and pruning the ONNX to the head
outputs the device decodes. Imports infra, device and dataset."""
