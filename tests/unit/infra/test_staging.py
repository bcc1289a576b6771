"""staged(): an output appears whole or not at all."""

import pytest
from posepipe.infra.staging import staged


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_completed_block_replaces_the_destination_and_leaves_no_partial(tmp_path, kind):
    destination = tmp_path / "out"
    destination.mkdir() if kind == "folder" else destination.write_text("old")
    with staged(destination) as partial:
        assert partial.parent == tmp_path and partial != destination
        if kind == "folder":
            partial.mkdir()
            (partial / "a.txt").write_text("new")
        else:
            partial.write_text("new")
    assert (destination / "a.txt" if kind == "folder" else destination).read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_block_keeps_the_old_output_and_removes_its_partial(tmp_path):
    destination = tmp_path / "out.json"
    destination.write_text("old")
    with pytest.raises(RuntimeError), staged(destination) as partial:
        partial.write_text("half")
        raise RuntimeError("killed")
    assert destination.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_partial_left_by_a_killed_job_is_not_reused(tmp_path):
    destination = tmp_path / "out"
    leftover = tmp_path / ".out.partial"
    leftover.mkdir()
    (leftover / "stale.txt").write_text("from a killed job")
    with staged(destination) as partial:
        assert not partial.exists()
        partial.mkdir()
    assert [p.name for p in destination.iterdir()] == []
