"""The .mud package (posepipe.packaging.package): the file MaixPy loads, its labels, and the zip for the device."""

import zipfile

from posepipe.packaging.package import mud_text


def test_package_of_the_trained_model(trained):
    results = trained / "results"
    mud = (results / "small.mud").read_text()
    assert mud == mud_text("small.cvimodel", "yolov8", "rgb", [0, 0, 0], [1 / 255] * 3, "person")
    with zipfile.ZipFile(results / "small_maixcam.zip") as archive:
        assert sorted(archive.namelist()) == [
            "provenance.json",
            "small.cvimodel",
            "small.mud",
            "small_metrics.json",
        ]
        assert archive.read("small.cvimodel") == (results / "small" / "small.cvimodel").read_bytes()
