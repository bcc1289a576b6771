"""Image files checked as Ultralytics' loader will read them, then hard-linked into a dataset:
a missing, cut-short or mis-sized image is one line naming the file, and a JPEG with bytes
after its end is linked as its kept bytes."""

import os

import numpy as np
import pytest
from PIL import Image
from posepipe.dataset.images import check_and_link, read_rgb
from posepipe.infra.errors import PosepipeError


def photo(path, size=(40, 30), colour=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)
    return path


def test_good_images_are_hard_linked_under_their_target_names(tmp_path):
    source = tmp_path / "src"
    photo(source / "a.jpg")
    photo(source / "sub" / "b.png")
    oriented = check_and_link(
        tmp_path / "ann.json", source, ["a.jpg", "sub/b.png"], [(40, 30)] * 2, tmp_path / "out", ["a.jpg", "x/b.png"]
    )
    assert oriented == {}
    assert os.path.samefile(source / "a.jpg", tmp_path / "out" / "a.jpg")
    assert os.path.samefile(source / "sub" / "b.png", tmp_path / "out" / "x" / "b.png")


@pytest.mark.parametrize(
    ("damage", "fault"),
    [
        (lambda p: p.unlink(), "image 'a.jpg': file missing in"),
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "image 'a.jpg': unreadable"),
        (lambda p: photo(p, size=(30, 40)), "image 'a.jpg'"),
    ],
    ids=["missing", "cut-short", "other-size"],
)
def test_a_bad_image_is_one_line_naming_the_file_and_nothing_is_linked(tmp_path, damage, fault):
    source = tmp_path / "src"
    damage(photo(source / "a.jpg"))
    with pytest.raises(PosepipeError) as raised:
        check_and_link(tmp_path / "ann.json", source, ["a.jpg"], [(40, 30)], tmp_path / "out", ["a.jpg"])
    assert str(raised.value).startswith(f"{tmp_path / 'ann.json'}: {fault}") and "\n" not in str(raised.value)
    assert not (tmp_path / "out" / "a.jpg").exists()


def test_bytes_after_a_jpeg_end_are_left_out_of_its_copy(tmp_path):
    source = tmp_path / "src"
    jpeg = photo(source / "a.jpg").read_bytes()
    (source / "a.jpg").write_bytes(jpeg + b"trailing bytes a phone app appended")
    check_and_link(tmp_path / "ann.json", source, ["a.jpg"], [(40, 30)], tmp_path / "out", ["a.jpg"])
    assert (tmp_path / "out" / "a.jpg").read_bytes() == jpeg


def test_an_image_is_read_in_rgb_order(tmp_path):
    pixels = read_rgb(photo(tmp_path / "a.png", colour=(200, 30, 10)))
    assert pixels.shape == (30, 40, 3) and np.abs(pixels[0, 0].astype(int) - [200, 30, 10]).max() <= 1
