"""One order for the loads TPU-MLIR's layer-group pass leaves unordered, so that a candidate is
one cvimodel whichever environment built it.

Within a layer group, the loads of one timestep are independent: each copies its own tensor to
its own part of local memory. tpuc-opt lists them in an order that follows heap addresses in its
process, so the same model built in the docker image and in the venv (another libc, another
environment) can list them differently, and code generation then writes another, equivalent
instruction stream. `canonical_final_mlir` sorts every such run of loads by what it loads and
gives them their run's group ids in that order (the ids the group's `flow` schedules stay the
same set), before the cvimodel is generated from the final MLIR again.
"""

import re

GROUP_START = re.compile(r'"tpu\.Group"\(')
GROUP_END = re.compile(r"^\s*\}\) \{.*\bflow = \[([^\]]*)\]")
LOAD = re.compile(r'= "tpu\.Load"\(')
GROUP_ID = re.compile(r"\bid = (\d+)")
STAGE = re.compile(r"\bstage = (\d+)")
LOC_ALIAS = re.compile(r"loc\((#loc\d+)\)\s*$")
LOC_DEFINITION = re.compile(r"^(#loc\d+) = (.*)$")
SSA_VALUE = re.compile(r"%[\w.$-]+(?:#\d+)?")


def canonical_final_mlir(text: str) -> str:
    """`text` with each group's independent loads of a timestep in one order (see module doc)."""
    lines = text.split("\n")
    locations = dict(m.groups() for m in map(LOC_DEFINITION.match, lines) if m)
    group_start = None
    for index, line in enumerate(lines):
        if GROUP_START.search(line):
            group_start = index + 1
        elif group_start is not None and (end := GROUP_END.match(line)):
            timestep = _timesteps([int(v) for v in end.group(1).split(",") if v.strip()])
            lines[group_start:index] = _body_in_order(lines[group_start:index], timestep, locations)
            group_start = None
    return "\n".join(lines)


def _timesteps(flow: list[int]) -> dict[int, int]:
    """Op id -> its timestep, from a group's flow: ids listed after the marker -t (t = 1, 2, ...)."""
    step, of = 0, {}
    for value in flow:
        if value < 0:
            step = -value
        else:
            of[value] = step
    return of


def _body_in_order(body: list[str], timestep: dict[int, int], locations: dict[str, str]) -> list[str]:
    """The group's body with each run of adjacent loads of one timestep and stage sorted."""
    body = list(body)
    start = 0
    while start < len(body):
        kind = _load_kind(body[start], timestep)
        end = start + 1
        while kind is not None and end < len(body) and _load_kind(body[end], timestep) == kind:
            end += 1
        if end - start > 1:
            body[start:end] = _sorted_loads(body[start:end], locations)
        start = end
    return body


def _load_kind(line: str, timestep: dict[int, int]) -> tuple[int, int] | None:
    """(timestep, stage) of a load; None for any other operation."""
    if not LOAD.search(line):
        return None
    op_id = int(GROUP_ID.search(line).group(1))
    return timestep.get(op_id, -1), int(STAGE.search(line).group(1))


def _sorted_loads(loads: list[str], locations: dict[str, str]) -> list[str]:
    """The loads by what they load (their location's name, then their text without value names),
    each given the group id of the position it takes."""
    ids = sorted(int(GROUP_ID.search(line).group(1)) for line in loads)

    def key(line: str) -> tuple[str, str]:
        alias = LOC_ALIAS.search(line)
        name = locations.get(alias.group(1), "") if alias else ""
        return name, GROUP_ID.sub("id", SSA_VALUE.sub("%", LOC_ALIAS.sub("", line)))

    ordered = sorted(loads, key=key)
    return [GROUP_ID.sub(f"id = {op_id}", line, count=1) for line, op_id in zip(ordered, ids)]
