"""Rule provenance: results/{model}/provenance.json, what the packaged model was built from."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.provenance import provenance, write_provenance

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
        posepipe_version=sm.params.posepipe_version,
    )
    write_provenance(record, Path(sm.output[0]))


run_rule(main, sm.log[0])
