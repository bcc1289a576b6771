"""posepipe: COCO keypoints to a MaixCAM pose model, one module per workflow stage."""
