"""Plumbing every layer may use: the error type, outputs that appear whole (staging), how a
rule's work runs (rule_entry), environments shared across clones (shared_env), a CPU of a
job's own (cpus). Imports no other posepipe layer."""
