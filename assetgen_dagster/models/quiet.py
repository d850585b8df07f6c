"""Library notices that tell a user of this project nothing, silenced where the libraries emit them
(not by filtering our own output), so the demo, the kit build and run logs show what matters."""

from __future__ import annotations

import logging
import os
import sys
import warnings

# Logger -> notices it drops. transformers' image processors fall back to their PIL implementations
# without torchvision, which is what this project uses on purpose (torchvision is not a dependency);
# the speech recognizer's token cap (max_new_tokens) is meant to win over Whisper's max_length; a style
# LoRA that adapts the UNet only (most do) has no text-encoder part, which diffusers mentions every load.
NOTICES = {
    "transformers.utils.import_utils": ("requires torchvision (not installed)",),
    "transformers.generation.utils": ("`max_new_tokens` will take precedence",),
    "diffusers.loaders.lora_base": ("No LoRA keys associated to",),
    "diffusers.loaders.peft": ("No LoRA keys associated to",),
}


class _DropNotices(logging.Filter):
    def __init__(self, notices: tuple[str, ...]):
        super().__init__()
        self.notices = notices

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.notices)


def quiet_libraries() -> None:
    """Drop transformers' torchvision fallback notice, torch's ``weight_norm`` deprecation (raised
    inside diffusers' audio VAE, not our code) and the hub's, transformers' and diffusers' progress
    bars. Idempotent; call it before the libraries load models (it imports none of the heavy ones)."""
    from huggingface_hub.utils import disable_progress_bars

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # for the processes this one starts
    disable_progress_bars()  # transformers' bars follow the hub's when it is imported
    for name, notices in NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropNotices) for existing in logger.filters):
            logger.addFilter(_DropNotices(notices))
    warnings.filterwarnings("ignore", message=r"`torch\.nn\.utils\.weight_norm` is deprecated", category=FutureWarning)
    for module in ("diffusers", "transformers"):
        library = sys.modules.get(module)
        if library is not None:  # already imported: its bars were decided at import time
            library.utils.logging.disable_progress_bar()
