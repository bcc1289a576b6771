"""posepipe.tpu_mlir.load_order on final-MLIR groups shaped like tpuc-opt's (tpu.Group bodies and their
flow). The real case, the docker image's cvimodel against the venv's, is in test_quantize_docker."""

import re

from posepipe.tpu_mlir.load_order import canonical_final_mlir

LOCATIONS = {
    "#loc1": 'loc("load_input")',
    "#loc2": 'loc("load_conv_bias")',
    "#loc3": 'loc("load_conv_filter")',
    "#loc4": 'loc("load_act_table")',
    "#loc5": 'loc("conv")',
    "#loc6": 'loc("load_late_filter")',
    "#loc7": 'loc("load_late_bias")',
}


def load(value: str, operand: str, op_id: int, stage: int, loc: str) -> str:
    return (
        f'        {value} = "tpu.Load"({operand}) {{ginfo = #tpu.lg<out_addr = {op_id * 64}, c_idx = [0], '
        f"slice_idx = 0, id = {op_id}, stage = {stage}, group_type = 0>}} : (tensor<1xsi8>) -> tensor<1xsi8> "
        f"loc({loc})"
    )


def final_mlir(first_step: list[tuple[str, str, str]], later: list[tuple[str, str, str]]) -> str:
    """A group: the input's load (timestep 1, stage 0), then `first_step`'s loads (timestep 1,
    stage 1) in the order given, a convolution, and `later`'s loads (timestep 2); ids by position."""
    body = [load("%20", "%arg0", 0, 0, "#loc1")]
    body += [load(v, o, 1 + i, 1, loc) for i, (v, o, loc) in enumerate(first_step)]
    conv_id = len(body)
    body.append(
        f'        %30 = "tpu.Conv2D"(%20, %21) {{ginfo = #tpu.lg<id = {conv_id}, stage = 1>}} : () -> () loc(#loc5)'
    )
    body += [load(v, o, conv_id + 1 + i, 1, loc) for i, (v, o, loc) in enumerate(later)]
    late = ", ".join(str(conv_id + 1 + i) for i in range(len(later)))
    flow = f"-1, 0, {', '.join(str(1 + i) for i in range(len(first_step)))}, {conv_id}, -2, {late}"
    lines = [
        "module {",
        '      %10 = "tpu.Group"(%arg0) ({',
        *body,
        "        tpu.Yield(%30) : () -> () loc(#loc5)",
        f"      }}) {{csecs = 1 : i64, flow = [{flow}], group_type = 0 : i64}} : () -> () loc(#loc5)",
        "}",
        *(f"{alias} = {definition}" for alias, definition in LOCATIONS.items()),
    ]
    return "\n".join(lines) + "\n"


def loads(text: str) -> list[tuple[str, str, int]]:
    """Each load in text order: (its value, its location's name, its group id)."""
    return [
        (m["value"], LOCATIONS[m["loc"]], int(m["id"]))
        for m in re.finditer(r'(?P<value>%\d+) = "tpu\.Load".*\bid = (?P<id>\d+),.*loc\((?P<loc>#loc\d+)\)', text)
    ]


FIRST_STEP = [("%21", "%3", "#loc3"), ("%22", "%2", "#loc2"), ("%23", "%4", "#loc4")]
LATER = [("%24", "%6", "#loc6"), ("%25", "%7", "#loc7")]


def test_one_timestep_s_loads_in_any_order_come_out_in_one_order_with_ids_by_position():
    orders = [FIRST_STEP, FIRST_STEP[::-1], [FIRST_STEP[1], FIRST_STEP[2], FIRST_STEP[0]]]
    results = [loads(canonical_final_mlir(final_mlir(order, LATER))) for order in orders]
    assert results[0] == results[1] == results[2]
    # sorted by what they load; the ids 1, 2, 3 follow the new positions, the values their loads
    assert results[0][:4] == [
        ("%20", LOCATIONS["#loc1"], 0),
        ("%23", LOCATIONS["#loc4"], 1),
        ("%22", LOCATIONS["#loc2"], 2),
        ("%21", LOCATIONS["#loc3"], 3),
    ]


def test_loads_of_another_stage_or_timestep_or_across_an_operation_stay_where_they_are():
    text = final_mlir(FIRST_STEP, LATER)
    result = canonical_final_mlir(text)
    # the input's load (stage 0) stays first; the convolution keeps its place and id
    lines, before = result.splitlines(), text.splitlines()
    assert lines[2] == before[2] and "%20" in lines[2]
    conv = next(i for i, line in enumerate(before) if "tpu.Conv2D" in line)
    assert lines[conv] == before[conv]
    # the later timestep's loads are sorted among themselves only, after the convolution
    assert [name for _, name, _ in loads(result)[4:]] == [LOCATIONS["#loc7"], LOCATIONS["#loc6"]]
    assert [op_id for _, _, op_id in loads(result)[4:]] == [5, 6]
    # flow, locations and everything outside groups unchanged
    assert [line for line in lines if "tpu.Load" not in line] == [line for line in before if "tpu.Load" not in line]


def test_the_canonical_text_is_a_fixed_point():
    once = canonical_final_mlir(final_mlir(FIRST_STEP[::-1], LATER[::-1]))
    assert canonical_final_mlir(once) == once
