"""COCO keypoints in, the YOLO pose dataset out (convert), the demo data, and reading the
converted dataset back (data_yaml, val_inputs). Imports infra and device."""
