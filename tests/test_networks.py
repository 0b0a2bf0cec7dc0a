"""Building networks for each distillation step, and tensor augmentation."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from selfdistill_sklearn.networks import (  # noqa: E402
    MLP,
    SmallCNN,
    adapt_first_layer,
    build_network,
    classification_model_names,
    random_crop_flip,
)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_resnet_gets_small_image_stem_and_channels(shape):
    net = build_network("resnet18", shape, 7)
    assert net.conv1.in_channels == shape[0]
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)
    assert net.training
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(3, *shape)).shape == (3, 7)


def test_large_images_keep_the_imagenet_stem():
    net = build_network("resnet18", (1, 64, 64), 3)
    assert net.conv1.in_channels == 1
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert isinstance(net.maxpool, nn.MaxPool2d)
    forced = build_network("resnet18", (3, 64, 64), 3, small_input=True)
    assert forced.conv1.stride == (1, 1) and isinstance(forced.maxpool, nn.Identity)


def test_densenet_stem_is_adapted_like_resnet():
    net = build_network("densenet121", (1, 8, 8), 4)
    assert net.features.conv0.in_channels == 1 and net.features.conv0.stride == (1, 1)
    assert isinstance(net.features.pool0, nn.Identity)


def test_adapt_first_layer_leaves_a_fitting_stem_alone():
    net = SmallCNN((3, 8, 8), 2)
    first = net.layers[0]
    adapt_first_layer(net, 3, small_input=True)
    assert net.layers[0] is first
    adapt_first_layer(net, 1, small_input=True)
    assert net.layers[0] is not first and net.layers[0].in_channels == 1
    with pytest.raises(ValueError, match="no Conv2d"):
        adapt_first_layer(MLP((4,), 2), 1, small_input=False)


def test_unknown_name_and_non_images_are_refused():
    with pytest.raises(ValueError, match="resnet50"):
        build_network("resnet5", (3, 32, 32), 10)
    with pytest.raises(ValueError, match="needs images"):
        build_network("resnet18", (64,), 10)
    with pytest.raises(ValueError, match="cannot take inputs"):
        build_network(lambda: nn.Sequential(nn.Conv2d(1, 2, 5), nn.Flatten()), (1, 3, 3), 2)
    with pytest.raises(TypeError, match="torchvision model name"):
        build_network(3, (4,), 2)
    assert "resnet50" in classification_model_names()


def test_factories_get_num_classes_and_input_shape_when_they_take_them():
    seen = {}

    def factory(input_shape, num_classes, width=3):
        seen.update(input_shape=input_shape, num_classes=num_classes, width=width)
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], num_classes))

    net = build_network(factory, (5,), 4, width=9)
    assert seen == {"input_shape": (5,), "num_classes": 4, "width": 9}
    assert net(torch.zeros(2, 5)).shape == (2, 4)

    def plain():
        return nn.Linear(5, 4)

    assert isinstance(build_network(plain, (5,), 4), nn.Linear)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        build_network(lambda: "not a module", (5,), 4)
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        build_network(plain, (5,), 3)


def test_instances_are_copied_and_reinitialised():
    original = nn.Linear(5, 3)
    before = original.weight.detach().clone()
    torch.manual_seed(1)
    net = build_network(original, (5,), 3)
    assert net is not original
    assert torch.equal(original.weight, before)
    assert not torch.equal(net.weight, before)


def test_seeded_builds_are_identical():
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        nets.append(build_network(SmallCNN, (1, 8, 8), 5))
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_small_modules():
    assert MLP((1, 8, 8), 10, hidden_layer_sizes=(7, 5))(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert SmallCNN((3, 32, 32), 10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="channels, height, width"):
        SmallCNN((64,), 10)


def _candidates(image, padding):
    c, h, w = image.shape
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            yield crop
            yield crop.flip(-1)


def test_random_crop_flip_is_a_crop_of_the_padded_image_possibly_mirrored():
    images = torch.randn(6, 2, 5, 7)
    out = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    for image, augmented in zip(images, out, strict=True):
        assert any(torch.equal(augmented, c) for c in _candidates(image, 2))


def test_random_crop_flip_draws_offsets_and_flips():
    # Pixel values are the column number + 1, so a row read left to right
    # increases unless it was mirrored; padding shows as zeros.
    images = (torch.arange(8, dtype=torch.float32) + 1).expand(400, 1, 8, 8).contiguous()
    out = random_crop_flip(images, padding=4, generator=torch.Generator().manual_seed(0))
    unchanged = sum(torch.equal(a, b) for a, b in zip(images, out, strict=True))
    assert unchanged < 20  # 1/162 of them on average
    columns = out[:, 0].amax(dim=1)
    mirrored = 0
    for row in columns:
        values = row[row > 0]
        steps = values[1:] - values[:-1]
        assert torch.all(steps == 1) or torch.all(steps == -1)
        mirrored += bool(steps[0] < 0)
    assert 150 < mirrored < 250
    shifts = {int(row.nonzero()[0]) for row in columns}
    assert shifts == set(range(5))  # offsets 0..8 leave 0..4 zero columns on one side
    assert torch.equal(random_crop_flip(images, padding=0, flip=False), images)
    again = random_crop_flip(images, padding=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="channels, height, width"):
        random_crop_flip(images[0])
