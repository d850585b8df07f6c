import numpy as np
from PIL import Image

from assetgen_dagster.engine.preview import TILE, contact_sheet, fit, preview_markdown, tiled


def noise(seed, shape=(64, 64, 3)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8))


def test_contact_sheet_has_labelled_128_px_tiles_and_stays_small():
    images = [noise(i) for i in range(20)]
    sheet = contact_sheet(images, [f"item{i}" for i in range(20)])
    assert sheet.size == (4 * TILE, 3 * (TILE + 14))  # 12 tiles at most, 4 columns, a label strip each
    markdown = preview_markdown(images, [f"item{i}" for i in range(20)], "t",
                                rows=[[f"item{i}", "1", "a prompt", "all pass"] for i in range(30)])
    assert markdown.startswith("**t**") and "](data:image/" in markdown
    assert markdown.count("| item") == 24 + 1 and "and 6 more items" in markdown  # bounded table
    assert len(markdown) < 140_000  # worst case, 12 tiles of pure noise; the demo's sheets are 5-15 KB


def test_small_art_is_enlarged_crisply_and_alpha_shown_on_a_checkerboard():
    small = fit(noise(1, (32, 32, 3)))
    assert small.size == (TILE, TILE)
    block = np.asarray(small)[:4, :4]
    assert (block == block[0, 0]).all()  # nearest neighbour: 4x4 blocks of one pixel
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    backdrop = np.asarray(fit(transparent))
    assert len({tuple(p) for p in backdrop.reshape(-1, 3)}) == 2  # the checkerboard's two greys
    assert tiled(noise(2)).size == (128, 128)
