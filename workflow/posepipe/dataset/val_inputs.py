"""The val images as the device sees them: read as Ultralytics reads them, letterboxed and
scaled by the device's input contract, in shards that joined in order give every image once."""

from pathlib import Path

from posepipe.dataset.data_yaml import val_images
from posepipe.dataset.images import read_rgb
from posepipe.device import input_contract


def device_inputs(dataset_dir: Path, height: int, width: int, shard: tuple[int, int] = (0, 1)):
    """(image path, original size, model input) of the val images of `shard` (index, count: a
    contiguous share, shard_of), preprocessed as the device does."""
    for path in shard_of(val_images(dataset_dir), *shard):
        image = read_rgb(path)
        yield path, image.shape[:2], input_contract.to_input(input_contract.letterbox(image, height, width))


def shard_of(items: list, index: int, count: int) -> list:
    """Shard `index` of `count`: a contiguous share of `items`, so that the shards, joined in
    order, give the items in their order (the scores are then those of one shard, byte for byte)."""
    return items[index * len(items) // count : (index + 1) * len(items) // count]
