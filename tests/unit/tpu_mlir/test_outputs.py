"""What the TPU-MLIR tools print, read back (posepipe.tpu_mlir.outputs)."""

from posepipe.tpu_mlir.outputs import parse_similarity


def test_similarity_blocks_are_parsed():
    text = """[/model.22/Sigmoid_output_0_Sigmoid]      SIMILAR [PASSED]
    cosine_similarity      = 0.994240
    euclidean_similarity   = 0.891998
    sqnr_similarity        = 19.233851
[/model.22/dfl/conv/Conv_output_0_Conv]  NOT_SIMLIAR [FAILED]
    cosine_similarity      = 0.870473
    euclidean_similarity   = 0.463223
    sqnr_similarity        = 7.910240
[images_Input] EQUAL [PASSED]
min_similarity = (0.991118848323822, 0.8650580427041101, 16.158806085586548)
npz compare PASSED.
"""
    blocks = parse_similarity(text)
    assert blocks[0] == {
        "tensor": "/model.22/Sigmoid_output_0_Sigmoid",
        "verdict": "SIMILAR",
        "passed": True,
        "cosine": 0.99424,
        "euclidean": 0.891998,
        "sqnr": 19.233851,
    }
    assert blocks[1]["passed"] is False and blocks[1]["cosine"] == 0.870473
    assert blocks[2] == {"tensor": "images_Input", "verdict": "EQUAL", "passed": True}
