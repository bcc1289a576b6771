"""Rule report_search: a search's section of `snakemake --report` (its frontier and table)."""

import json
from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.report_search import search_rst

sm = snakemake  # noqa: F821
run_rule(
    lambda: Path(sm.output[0]).write_text(search_rst(json.loads(Path(sm.input.search).read_text()))), sm.log[0]
)
