import numpy as np
import pytest
import torch

from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images
from assetgen_dagster.kinds.images.seams import seam_ratio
from assetgen_dagster.kinds.images.tiling import seamless_tiling


@pytest.fixture(scope="module")
def pipe(tiny_kit):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained("assetgen-tiny/text-to-image", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def decode(pipe, latents):
    return pipe(prompt=["mossy stone"], num_inference_steps=2, guidance_scale=0.0, width=64, height=64,
                latents=latents.clone(), output_type="np").images[0]


def equivariance_error(pipe, tile, shift):
    """Rolling the initial latents by ``shift`` (a multiple of the UNet's downsampling) must roll
    the image by shift x VAE factor when every convolution wraps around (NOTES.md)."""
    latents = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with seamless_tiling(pipe, tile):
        image = decode(pipe, latents)
        rolled = decode(pipe, torch.roll(latents, shifts=shift, dims=(2, 3)))
    return float(np.abs(np.roll(image, (shift[0] * 2, shift[1] * 2), axis=(0, 1)) - rolled).max())


def test_circular_padding_makes_generation_wrap_around(pipe):
    assert equivariance_error(pipe, "both", (4, 6)) < 1e-4
    assert equivariance_error(pipe, None, (4, 6)) > 0.1  # zero padding: the same test fails


def test_tiling_is_per_axis(pipe):
    assert equivariance_error(pipe, "x", (0, 6)) < 1e-4
    assert equivariance_error(pipe, "x", (4, 0)) > 0.1
    assert equivariance_error(pipe, "y", (4, 0)) < 1e-4
    assert equivariance_error(pipe, "y", (0, 6)) > 0.1


def test_padding_is_restored_after_the_call(pipe):
    plain = ImageRequest(prompt="stone", seed=3, steps=2, guidance=0.0, width=64, height=64)
    tiled = ImageRequest(**{**plain.__dict__, "tile": "both"})
    [before] = generate_images(pipe, [plain], 1)
    [seamless] = generate_images(pipe, [tiled], 1)
    [after] = generate_images(pipe, [plain], 1)
    assert np.array_equal(np.asarray(before), np.asarray(after))
    assert not np.array_equal(np.asarray(before), np.asarray(seamless))
    assert all("_conv_forward" not in vars(m) for m in pipe.unet.modules())


def test_seam_statistic_on_synthetic_images():
    y, x = np.mgrid[0:64, 0:64]
    periodic = (127 + 100 * np.sin(2 * np.pi * x / 64) * np.cos(2 * np.pi * 2 * y / 64)).astype(np.uint8)
    assert seam_ratio(periodic, 1) < 1.5 and seam_ratio(periodic, 0) < 1.5
    gradient = (x * 4).astype(np.uint8)  # left edge black, right edge white: a hard seam in x
    assert seam_ratio(gradient, 1) > 10
    assert seam_ratio(gradient, 0) < 1.5
