"""What the tests share that is not a fixture: paths, checks, configs and real Snakemake runs
(pytest puts tests/ on the path: `from support.runs import run_snakemake`)."""
