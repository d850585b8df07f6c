import numpy as np

from assetgen_dagster.engine.preview import contact_sheet, preview_markdown


def test_contact_sheet_is_small():
    from PIL import Image

    images = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8))
              for i in range(20)]
    sheet = contact_sheet(images)
    assert sheet.size == (192, 192)  # 16 thumbnails at most, 4 columns
    markdown = preview_markdown(images, "t")
    assert markdown.startswith("![t](data:image/jpeg;base64,")
    assert len(markdown) < 32_000  # worst case: pure noise; real art compresses far better
