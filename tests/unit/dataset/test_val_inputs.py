"""The device's figures in shards: every val image in exactly one shard, in order."""

import pytest
from posepipe.dataset.val_inputs import shard_of


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("items", [0, 1, 5, 16, 500])
def test_shards_joined_in_order_are_the_val_images_in_order(items, count):
    images = [f"{i:04d}.jpg" for i in range(items)]
    shards = [shard_of(images, index, count) for index in range(count)]
    assert [image for shard in shards for image in shard] == images
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
