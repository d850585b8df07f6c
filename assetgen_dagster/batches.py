"""Prompt batches: the strict YAML schema, loading, content hashes, seeds and partition ids.

A batch is one YAML file in the prompts directory; its file stem is the partition key. Every
problem is reported as a :class:`BatchError` naming the file, the item and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KINDS = ("concept_art", "sprite", "icon", "texture", "mesh")
ID_RULE = r"[a-z0-9_-]{1,64}"
_ID_RE = re.compile(rf"^{ID_RULE}$")

# Documented limits (README "Prompt batches"): they keep one file from exhausting a GPU or the disk.
MAX_FILE_BYTES = 1_000_000
MAX_ITEMS = 1_000
MAX_PROMPT_CHARS = 2_000
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 64, 2048
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_SEED = 2**32 - 1
MAX_MESH_GRID = 128

BATCH_SUFFIX = ".yaml"


class BatchError(ValueError):
    """A prompt batch that cannot be used; the message names file, item and field."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + ("; ".join(problems) if len(problems) == 1 else
                                             "\n  - " + "\n  - ".join(problems)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
Side = Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, multiple_of=8)]
Guidance = Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]


class BatchDefaults(_Strict):
    """Generation defaults for every item of the batch; an item's own value wins."""

    seed: Seed = 0
    steps: Steps | None = None
    width: Side | None = None
    height: Side | None = None
    guidance: Guidance | None = None
    negative_prompt: Prompt | None = None


class _ItemBase(_Strict):
    id: str
    prompt: Prompt
    negative_prompt: Prompt | None = None
    seed: Seed | None = None
    steps: Steps | None = None
    guidance: Guidance | None = None

    @field_validator("id")
    @classmethod
    def _id_rule(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"must match {ID_RULE} (lowercase letters, digits, '_' or '-')")
        return value

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


class _ImageItem(_ItemBase):
    width: Side | None = None
    height: Side | None = None


class ConceptArtItem(_ImageItem):
    kind: Literal["concept_art"]


KeyColour = Literal["green", "magenta", "blue"]
IconSide = Annotated[int, Field(ge=16, le=1024)]


class SpriteItem(_ImageItem):
    """Generated on a flat ``background`` that is keyed out, then trimmed to ``margin`` px."""

    kind: Literal["sprite"]
    background: KeyColour = "green"
    margin: Annotated[int, Field(ge=0, le=64)] = 4


class IconItem(_ImageItem):
    """One generation keyed out and downscaled to every size in ``sizes`` (square, power of two)."""

    kind: Literal["icon"]
    background: KeyColour = "green"
    sizes: Annotated[list[IconSide], Field(min_length=1, max_length=8)] = [256, 128, 64, 32]

    @field_validator("sizes")
    @classmethod
    def _powers_of_two(cls, sizes: list[int]) -> list[int]:
        if any(size & (size - 1) for size in sizes):
            raise ValueError("every icon size must be a power of two (16..1024)")
        if len(set(sizes)) != len(sizes):
            raise ValueError("icon sizes must be unique")
        return sizes


class TextureItem(_ImageItem):
    """Seamless along ``tile``; its PBR maps use ``normal_strength`` and ``normal_convention``."""

    kind: Literal["texture"]
    tile: Literal["both", "x", "y"] = "both"
    normal_strength: Annotated[float, Field(gt=0.0, le=20.0)] = 2.0
    normal_convention: Literal["opengl", "directx"] = "opengl"


class MeshItem(_ItemBase):
    """Text -> mesh (Shap-E), or ``source: concept_art``: the ``concept`` item's image -> depth -> relief."""

    kind: Literal["mesh"]
    source: Literal["text", "concept_art"] = "text"
    concept: str | None = None  # id of a concept_art item of the same batch, for source: concept_art
    grid_size: Annotated[int, Field(ge=8, le=MAX_MESH_GRID)] = 32  # marching-cubes grid (cost ~ n^3)
    target_size: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0  # largest extent, metres
    lod_fractions: Annotated[list[Annotated[float, Field(gt=0.0, le=1.0)]], Field(min_length=1, max_length=6)] = [
        1.0, 0.5, 0.25, 0.1]
    max_faces: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000

    @field_validator("lod_fractions")
    @classmethod
    def _decreasing(cls, fractions: list[float]) -> list[float]:
        if any(b >= a for a, b in zip(fractions, fractions[1:])):
            raise ValueError("LOD fractions must strictly decrease (e.g. [1.0, 0.5, 0.25, 0.1])")
        return fractions


_ITEM_CLASSES: dict[str, type[_ItemBase]] = {
    "concept_art": ConceptArtItem,
    "sprite": SpriteItem,
    "icon": IconItem,
    "texture": TextureItem,
    "mesh": MeshItem,
}

Item = Annotated[
    Union[ConceptArtItem, SpriteItem, IconItem, TextureItem, MeshItem], Field(discriminator="kind")
]


class PromptBatch(_Strict):
    """One prompt batch file: optional defaults and a list of items with unique ids."""

    defaults: BatchDefaults = BatchDefaults()
    items: Annotated[list[Item], Field(min_length=1, max_length=MAX_ITEMS)]

    @model_validator(mode="after")
    def _unique_ids(self) -> "PromptBatch":
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.id in seen:
                raise _ItemProblem(index, item.id, "id", f"duplicate id {item.id!r}")
            seen.add(item.id)
        return self

    @model_validator(mode="after")
    def _mesh_concepts_exist(self) -> "PromptBatch":
        kinds = {item.id: item.kind for item in self.items}
        for index, item in enumerate(self.items):
            if item.kind != "mesh":
                continue
            if item.source == "concept_art" and kinds.get(item.concept) != "concept_art":
                raise _ItemProblem(index, item.id, "concept",
                                   "source: concept_art needs `concept` naming a concept_art item of this batch")
            if item.source == "text" and item.concept is not None:
                raise _ItemProblem(index, item.id, "concept", "`concept` is only used with source: concept_art")
        return self

    @model_validator(mode="after")
    def _textures_are_power_of_two(self) -> "PromptBatch":
        for index, item in enumerate(self.items):
            if item.kind != "texture":
                continue
            for side in ("width", "height"):
                value = getattr(item, side) or getattr(self.defaults, side)
                if value is not None and value & (value - 1):
                    where = "" if getattr(item, side) else " (from defaults)"
                    raise _ItemProblem(index, item.id, side, f"textures need a power-of-two size, not {value}{where}")
        return self

    def items_of_kind(self, kind: str) -> list[Item]:
        return [item for item in self.items if item.kind == kind]


class _ItemProblem(ValueError):
    """A rule across fields or items, reported against one item's field."""

    def __init__(self, index: int, item_id: str, field: str, message: str):
        self.index, self.item_id, self.field = index, item_id, field
        super().__init__(message)


# ---------------------------------------------------------------------------------------------
# Loading


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml parses ~10x faster
    """A safe YAML loader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def batch_id_for(path: Path) -> str:
    """The partition key of a batch file: its stem, which must follow the id rule."""
    if path.suffix != BATCH_SUFFIX:
        raise BatchError(path, [f"batch files must end in {BATCH_SUFFIX}"])
    if not is_valid_id(path.stem):
        raise BatchError(path, [f"file name {path.stem!r} must match {ID_RULE} (it is the batch id)"])
    return path.stem


def batch_path(prompts_dir: Path, batch_id: str) -> Path:
    """The file of a batch id, refusing ids that could escape the prompts directory."""
    if not is_valid_id(batch_id):
        raise BatchError(f"{prompts_dir}/{batch_id!r}", [f"batch id must match {ID_RULE}"])
    return prompts_dir / f"{batch_id}{BATCH_SUFFIX}"


def scan_batch_files(prompts_dir: Path) -> list[Path]:
    """Every ``*.yaml`` file directly in ``prompts_dir``, sorted by name."""
    if not prompts_dir.is_dir():
        return []
    return sorted(p for p in prompts_dir.iterdir() if p.suffix == BATCH_SUFFIX)


def load_batch(path: Path) -> PromptBatch:
    """Read, parse (YAML safe load) and validate one batch file, or raise :class:`BatchError`."""
    path = Path(path)
    batch_id_for(path)
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise BatchError(path, ["is a symlink to a file outside the prompts directory"])
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BatchError(path, [f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"])
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError(path, [f"is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise BatchError(path, [f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_batch(text, path)


def parse_batch(text: str, path: Path | str = "<batch>") -> PromptBatch:
    """Validate YAML text as a prompt batch; ``path`` only names the source in errors."""
    try:
        _refuse_aliases(text, path)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        detail = _one_line(str(exc)).replace(' in "<unicode string>"', "")
        raise BatchError(path, [f"invalid YAML: {detail}"]) from None
    except RecursionError:
        raise BatchError(path, ["invalid YAML: nested too deeply"]) from None
    if not isinstance(data, dict):
        raise BatchError(path, ["top level must be a mapping with an 'items' list"])
    try:
        return PromptBatch.model_validate(data)
    except ValidationError as exc:
        raise BatchError(path, _describe_errors(exc, data)) from None


def _refuse_aliases(text: str, path: Path | str) -> None:
    """Refuse YAML aliases (``*name``): a few lines of nested aliases expand to billions of nodes."""
    for token in yaml.scan(text, Loader=_UniqueKeyLoader):
        if isinstance(token, yaml.AliasToken):
            line = token.start_mark.line + 1
            raise BatchError(path, [f"YAML aliases (*{token.value}, line {line}) are not allowed in batch files"])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_errors(exc: ValidationError, data: dict) -> list[str]:
    raw_items = data.get("items") if isinstance(data.get("items"), list) else []
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "value_error" and isinstance(error.get("ctx", {}).get("error"), _ItemProblem):
            problem = error["ctx"]["error"]
            problems.append(f"item {problem.item_id!r} (items[{problem.index}]), field {problem.field!r}: {message}")
            continue
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            index = loc[1]
            rest = loc[3:] if len(loc) > 2 and loc[2] in KINDS else loc[2:]  # drop the union's tag
            raw = raw_items[index] if index < len(raw_items) else None
            item_id = raw.get("id") if isinstance(raw, dict) else None
            label = f"item {item_id!r} (items[{index}])" if isinstance(item_id, str) else f"items[{index}]"
            field = ".".join(str(part) for part in rest) or ("kind" if "tag" in error["type"] else "(item)")
            if error["type"] == "extra_forbidden" and len(loc) > 2 and loc[2] in KINDS:
                allowed = ", ".join(_ITEM_CLASSES[loc[2]].model_fields)
                message = f"unknown key for kind {loc[2]!r} (allowed: {allowed})"
            problems.append(f"{label}, field {field!r}: {message}")
        else:
            field = ".".join(str(part) for part in loc) or "(top level)"
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"field {field!r}: {message}")
    return problems


# ---------------------------------------------------------------------------------------------
# Hashes, seeds and resolved parameters


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def batch_hash(batch: PromptBatch) -> str:
    """Content hash of the validated batch: comments and formatting do not change it."""
    return _digest(batch.model_dump(mode="json"))


def item_seed(batch: PromptBatch, item: Item) -> int:
    """The item's seed, or one derived from ``defaults.seed`` and the item id (stable across runs)."""
    if item.seed is not None:
        return item.seed
    digest = hashlib.sha256(f"{batch.defaults.seed}/{item.id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def item_params(batch: PromptBatch, item: Item) -> dict[str, Any]:
    """Generation parameters the batch sets for this item (item over defaults); unset ones are absent,
    so the model catalog's defaults can fill them."""
    params: dict[str, Any] = {}
    for name in ("steps", "width", "height", "guidance", "negative_prompt"):
        if name not in type(item).model_fields:
            continue
        value = getattr(item, name)
        if value is None:
            value = getattr(batch.defaults, name)
        if value is not None:
            params[name] = value
    return params


_COMMON_FIELDS = {"id", "kind", "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height"}


def item_options(item: Item) -> dict[str, Any]:
    """The kind-specific options of an item (e.g. a texture's ``tile``), with their defaults."""
    return item.model_dump(mode="json", exclude=_COMMON_FIELDS)


def item_hash(batch: PromptBatch, item: Item) -> str:
    """Hash of everything the batch says about one item's output (kind, prompt, seed, parameters, options)."""
    return _digest({
        "kind": item.kind, "prompt": item.prompt, "seed": item_seed(batch, item),
        **item_params(batch, item), **item_options(item),
    })
