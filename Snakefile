# posepipe: COCO keypoints -> YOLO pose training -> ONNX -> MaixCAM, one rule file per stage.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/quantize.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/package.smk"
include: "workflow/rules/app.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
