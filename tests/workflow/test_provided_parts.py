"""The real parts a run declares provided (POSEPIPE_PROVIDED_PARTS, set by .ci/run) are here,
and a test whose part is missing fails where it was declared, skips with its reason elsewhere."""

import pytest
from _pytest.outcomes import Failed, Skipped
from support import parts


@pytest.mark.parametrize("part", sorted(parts.PARTS))
def test_each_part_is_here_or_its_tests_skip_with_the_reason(part):
    parts.require(part)


@pytest.mark.parametrize(("declared", "outcome"), [("", Skipped), ("docker nothing-else", Failed)])
def test_a_missing_part_fails_only_where_it_was_declared(monkeypatch, declared, outcome):
    monkeypatch.setitem(parts.PARTS, "docker", (lambda: False, "no docker daemon answers"))
    monkeypatch.setenv(parts.DECLARED, declared)
    with pytest.raises(outcome) as raised:
        parts.require("docker")
    assert "no docker daemon answers" in str(raised.value)
