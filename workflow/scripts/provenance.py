"""Rule provenance: results/{model}/provenance.json, what the packaged model was built from."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.provenance import provenance, write_provenance  # noqa: E402

sm = snakemake  # noqa: F821
CHECKOUT = Path(sm.scriptdir).resolve().parent.parent  # this workflow's clone: its git state is recorded


def main():
    files = {key: sm.input[key] for key in sm.input.keys() if key != "report"}
    sources = {key: path for key, path in files.items() if key in sm.params.sources}
    artifacts = {key: path for key, path in files.items() if key not in sm.params.sources}
    record = provenance(
        model=sm.wildcards.model,
        inputs=sources,
        artifacts=artifacts,
        settings=sm.params.settings,
        quantize_report=Path(sm.input.report),
        repo_dir=CHECKOUT,
    )
    write_provenance(record, Path(sm.output[0]))


run_rule(main, sm.log[0])
