# posepipe: COCO keypoints -> YOLO pose training -> ONNX -> MaixCAM, one rule file per stage.


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/convert.smk"


rule all:
    default_target: True
    input:
        final_targets(),
