"""Library notices that tell a user nothing are silenced where the libraries emit them."""

import logging
import subprocess
import sys
import warnings


def test_the_torchvision_notice_the_weight_norm_warning_and_progress_bars_are_silenced(caplog):
    from assetgen_dagster.models.quiet import quiet_libraries

    quiet_libraries()
    quiet_libraries()  # idempotent: one filter per logger
    for name, notice in (("transformers.utils.import_utils",
                          "`CLIPImageProcessor` requires torchvision (not installed); falling back to ..."),
                         ("transformers.generation.utils", ("Both `max_new_tokens` (=32) and `max_length`(=448) seem "
                                                            "to have been set. `max_new_tokens` will take precedence."))):
        logger = logging.getLogger(name)
        assert len(logger.filters) == 1
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=name):
            logger.warning(notice)
            logger.warning("something else worth reading")
        assert [record.getMessage() for record in caplog.records] == ["something else worth reading"]

    import torch
    from huggingface_hub.utils import are_progress_bars_disabled

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_libraries()  # catch_warnings restores the filters on exit: set them inside
        torch.nn.utils.weight_norm(torch.nn.Linear(2, 2))
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], [str(w.message) for w in caught]
    assert are_progress_bars_disabled()


def test_building_a_tiny_model_prints_nothing(tmp_path):
    """What `make demo` prints while it builds the kit: no library notice, no progress bar."""
    code = ("from assetgen_dagster.tiny import install_snapshot\n"
            "from assetgen_dagster.kinds.images.tiny import build_tiny_text_to_image\n"
            f"install_snapshot('assetgen-tiny/quiet', '0' * 40, build_tiny_text_to_image, __import__('pathlib').Path({str(tmp_path)!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "" and done.stderr == "", (done.stdout + done.stderr)[-2000:]
