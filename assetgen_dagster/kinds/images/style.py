"""A batch's art style: LoRA adapters and reference images (through an IP-Adapter) applied to every
text-to-image item, so forty props look like one game's. Top-level ``style:`` in a batch, replaced
per item by the item's own ``style:``.

A LoRA goes through the same rules as a model (allow-list, revision pinned to a commit, safetensors
only, the Hugging Face cache); its repo, commit, file and weight are part of each item's identity and
provenance. Adapters are loaded into the already loaded pipeline (peft, through diffusers'
``load_lora_weights``) and stay there: the next batch that asks for another set swaps them
(``set_adapters``, ``delete_adapters``) without reloading the base weights.

A reference is an image in the prompts folder; the role's base model names the IP-Adapter made for it
(catalog ``params.ip_adapter``: one exists for SD 1.5 and SDXL bases, none for SD 2.1 / SD-Turbo,
where a reference is refused). Each reference's content hash, the adapter's repo, commit and license
and the scale are identity and provenance; the adapter and its image encoder are loaded into the
loaded pipeline (``load_ip_adapter``) and unloaded for a call without one.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field, field_validator

from assetgen_dagster.batches import BatchError, Strict, relative_file
from assetgen_dagster.kinds.images.conditioning import (
    IMAGE_SUFFIXES,
    ConditionedImageItem,
    init_image_files,
    read_image,
)
from assetgen_dagster.kinds.images.tiny import LORA_WEIGHTS
from assetgen_dagster.models import (
    ModelNotAllowedError,
    ModelNotCachedError,
    ModelUnavailableError,
    UnsupportedModelError,
)

REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$"
WEIGHT_FILE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.safetensors$"  # a file at the repo's top level, safetensors only
# An IP-Adapter's weights, at the top level or in one folder (h94/IP-Adapter: models/, sdxl_models/)
ADAPTER_FILE = r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,60}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.safetensors$"
MAX_LORAS = 8
MAX_REFERENCES = 4
ReferencePath = Annotated[str, Field(min_length=1, max_length=255)]


class LoraRef(Strict):
    """One LoRA of a style: a repo on the allow-list, its weight and (if not diffusers' default) file."""

    repo: Annotated[str, Field(pattern=REPO_ID)]
    weight: Annotated[float, Field(ge=-2.0, le=2.0)] = 1.0
    weight_name: Annotated[str, Field(pattern=WEIGHT_FILE)] = LORA_WEIGHTS
    revision: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "main"


class Style(Strict):
    """What makes a batch's images look alike."""

    loras: Annotated[list[LoraRef], Field(max_length=MAX_LORAS)] = []
    reference: ReferencePath | Annotated[list[ReferencePath], Field(min_length=1, max_length=MAX_REFERENCES)] | None = None
    scale: Annotated[float, Field(ge=0.0, le=1.5)] = 0.6  # how strongly the references steer (IP-Adapter scale)

    @field_validator("reference")
    @classmethod
    def _images_in_the_prompts_folder(cls, value: str | list[str] | None) -> str | list[str] | None:
        for name in [value] if isinstance(value, str) else value or []:
            relative_file(name, IMAGE_SUFFIXES, "an image")
        return value

    @property
    def references(self) -> list[str]:
        """The reference images, relative to the prompts folder (none, one or a list)."""
        return [self.reference] if isinstance(self.reference, str) else list(self.reference or [])


SECTION = {"style": (Style | None, None)}  # the top-level batch key, shared by every image kind


class StyledImageItem(ConditionedImageItem):
    """An image item that takes the batch's style, or its own (``style: {loras: []}`` for none), and
    may start from an image (``kinds/images/conditioning.py``)."""

    style: Style | None = None


def referenced_images(batch: Any) -> list[str]:
    """Every image file the batch's image items read: its styles' references (its own and its
    items'), init images and masks. Part of its content."""
    styles = [getattr(batch, "style", None), *(getattr(item, "style", None) for item in batch.items)]
    references = {name for style in styles if style is not None for name in style.references}
    return sorted(references | init_image_files(batch.items))


def style_of(batch: Any, item: Any) -> Style | None:
    """The style an item is made in: its own, else the batch's, else none."""
    own = getattr(item, "style", None)
    return own if own is not None else getattr(batch, "style", None)


@dataclass(frozen=True)
class AppliedLora:
    """A LoRA as one item's request records it (identity and provenance)."""

    repo: str
    commit: str
    weight_name: str
    weight: float
    license: str  # the model card's, for provenance (fixed by repo and commit, so it moves no identity on its own)

    @property
    def adapter_name(self) -> str:
        """The name the adapter is loaded under in the pipeline (peft allows no dots or slashes)."""
        return re.sub(r"[^A-Za-z0-9_]", "_", f"{self.repo}_{self.commit[:12]}_{self.weight_name}")


def resolve_loras(models: Any, batch_file: Any, item: Any,
                  style: Style | None) -> tuple[tuple[AppliedLora, ...], tuple[tuple[str, Any], ...]]:
    """Pin each LoRA of ``style`` to a commit and make its file present (before any model loads):
    the LoRAs as the item's identity records them, and (adapter name, weights file) for loading them.
    A refused or missing one is a :class:`BatchError` naming the file, the item and the field."""
    if style is None or not style.loras:
        return (), ()
    field = "style" if getattr(item, "style", None) is not None else "style (the batch's)"
    applied, files = [], []
    for index, lora in enumerate(style.loras):
        try:
            adapter = models.adapter(lora.repo, lora.revision, lora.weight_name)
        except (ModelNotAllowedError, ModelNotCachedError, ModelUnavailableError, UnsupportedModelError) as exc:
            # refused or absent: bad input, not retried (a download that failed is, by the retry policy)
            raise BatchError(batch_file, [f"item {item.id!r}, field '{field}.loras[{index}].repo': {exc}"]) from None
        applied.append(AppliedLora(lora.repo, adapter.commit, lora.weight_name, lora.weight, adapter.license))
        files.append((applied[-1].adapter_name, adapter.path))
    return tuple(applied), tuple(files)


def apply_loras(pipe: Any, loras: Sequence[AppliedLora], files: dict[str, Any]) -> None:
    """Make ``loras`` (and only them) active in ``pipe`` with their weights: load the ones it lacks
    from ``files`` (adapter name -> weights file), delete the ones no longer asked for, and switch
    LoRA off for an unstyled call (the adapters stay loaded). The base weights are never reloaded."""
    loaded = _loaded_adapters(pipe)
    if not loras:
        if loaded:
            pipe.disable_lora()  # kept loaded: the next styled call needs no reload
        return
    wanted = {lora.adapter_name for lora in loras}
    stale = sorted(loaded - wanted)
    if stale:
        pipe.delete_adapters(stale)
    for lora in loras:
        if lora.adapter_name not in loaded:
            path = files[lora.adapter_name]
            pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=lora.adapter_name)
    pipe.enable_lora()
    pipe.set_adapters([lora.adapter_name for lora in loras], adapter_weights=[lora.weight for lora in loras])


def _loaded_adapters(pipe: Any) -> set[str]:
    """The adapters loaded into any of the pipeline's components (none before the first LoRA)."""
    if not hasattr(pipe, "get_list_adapters"):
        return set()
    return {name for names in pipe.get_list_adapters().values() for name in names}


@dataclass(frozen=True)
class AppliedReference:
    """A style's reference images as one item's request records them (identity and provenance)."""

    adapter: str  # the IP-Adapter's repo
    commit: str
    weight_name: str  # its weights file in the repo (its image encoder is image_encoder/ beside it)
    license: str  # the adapter's model card's
    images: tuple[tuple[str, str], ...]  # (path relative to the prompts folder, sha256 of its bytes)
    scale: float


@dataclass(frozen=True)
class ReferenceInputs:
    """Where a reference's adapter is and what its images hold: what a call loads, not identity."""

    snapshot: Any  # the adapter's snapshot folder in the hub cache
    data: tuple[bytes, ...]  # the images' bytes, as hashed


def resolve_reference(models: Any, batch_file: Any, item: Any, style: Style | None, role: str,
                      params: dict[str, Any]) -> tuple[AppliedReference | None, ReferenceInputs | None]:
    """The item's reference images, read and hashed, with the IP-Adapter of the role's base model
    pinned to a commit and present (before any model loads); None without references. A base with no
    IP-Adapter, a refused adapter or an unusable image is a :class:`BatchError` naming the file, the
    item and the field."""
    if style is None or not style.references:
        return None, None
    field = "style.reference" if getattr(item, "style", None) is not None else "style (the batch's).reference"

    def refuse(problem: str) -> BatchError:
        return BatchError(batch_file, [f"item {item.id!r}, field '{field}': {problem}"])

    repo = params.get("ip_adapter")
    if not repo:
        raise refuse(f"the {role!r} role's base model {models.resolve(role).spec.repo_id} has no IP-Adapter "
                     "(IP-Adapter weights exist for SD 1.5 and SDXL bases, not for SD 2.1 / SD-Turbo): point the role "
                     "at such a base in your catalog and name its adapter in params.ip_adapter")
    weight_name = params["ip_adapter_weight"]
    encoder = PurePosixPath(weight_name).parent / "image_encoder"
    try:
        adapter = models.adapter(repo, params["ip_adapter_revision"], weight_name,
                                 companions=(f"{encoder}/config.json", f"{encoder}/model.safetensors"))
    except (ModelNotAllowedError, ModelNotCachedError, ModelUnavailableError, UnsupportedModelError) as exc:
        raise refuse(f"its IP-Adapter: {exc}") from None
    prompts_dir = batch_file.parent
    images, data = [], []
    for name in style.references:
        try:
            data.append(read_image(prompts_dir, name))
        except ValueError as exc:
            raise refuse(f"{name}: {exc}") from None
        images.append((name, hashlib.sha256(data[-1]).hexdigest()))
    snapshot = adapter.path.parents[len(PurePosixPath(weight_name).parts) - 1]  # the repo's folder at that commit
    return (AppliedReference(repo, adapter.commit, weight_name, adapter.license, tuple(images), style.scale),
            ReferenceInputs(snapshot, tuple(data)))


def style_files(lora_files: Sequence[tuple[str, Any]], reference: AppliedReference | None,
                inputs: ReferenceInputs | None) -> list[Any]:
    """The weights files a style loads into the pipeline: its LoRAs', and its IP-Adapter's with the
    adapter's image encoder (what the fit check counts beside the base model)."""
    files = [path for _, path in lora_files]
    if reference is not None:
        weights = PurePosixPath(reference.weight_name)
        files += [inputs.snapshot / weights, inputs.snapshot / weights.parent / "image_encoder" / "model.safetensors"]
    return files


def apply_reference(pipe: Any, reference: AppliedReference | None, inputs: ReferenceInputs | None) -> dict[str, Any]:
    """Load ``reference``'s IP-Adapter into ``pipe`` (unless it is the one loaded) with its scale, or
    unload one for a call without references; returns the pipeline call's extra arguments. The base
    weights are never reloaded."""
    loaded = getattr(pipe, "_assetgen_ip_adapter", None)
    wanted = None if reference is None else (reference.adapter, reference.commit, reference.weight_name)
    if loaded is not None and loaded != wanted:
        pipe.unload_ip_adapter()  # its attention processors and image encoder go; the UNet's stay
        pipe._assetgen_ip_adapter = None
    if reference is None:
        return {}
    if loaded != wanted:
        weights = PurePosixPath(reference.weight_name)
        pipe.load_ip_adapter(str(inputs.snapshot), subfolder=str(weights.parent), weight_name=weights.name,
                             image_encoder_folder="image_encoder")  # "image_encoder" beside the weights
        pipe._assetgen_ip_adapter = wanted
    pipe.set_ip_adapter_scale(reference.scale)
    from PIL import Image

    images = []
    for data in inputs.data:
        with Image.open(io.BytesIO(data)) as image:
            images.append(image.convert("RGB"))
    return {"ip_adapter_image": [images]}  # one adapter; its images' tokens side by side
