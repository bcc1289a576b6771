# posepipe's workflow is workflow/Snakefile, where Snakemake's module system (`github(...,
# path="workflow/Snakefile")`) and the workflow catalog look for it; this lets a clone run it
# from its root.


include: "workflow/Snakefile"


# An included file's default target does not carry over to the including one (a module's does):
# a bare `snakemake` in the clone builds rule all, as it does for a module user.
workflow.default_target = "all"
