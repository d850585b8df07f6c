"""``mesh``: 3D props as GLBs, from text (Shap-E) or from a concept image (Shap-E img2img, or a depth
relief for flat props), with an LOD chain and collision derived from each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assetgen_dagster.batches import MAX_GUIDANCE, MAX_STEPS, DiffusionItem, PromptBatch
from assetgen_dagster.engine import (
    BatchContext,
    ItemAsset,
    ItemCheck,
    ItemOutput,
    ItemRejected,
    Verdict,
    fail,
    ok,
    runtime_input,
    worst,
)
from assetgen_dagster.engine.cards import Markup, viewer
from assetgen_dagster.engine.preview import grid
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, TinyModel
from assetgen_dagster.kinds.mesh.full import FULL_SHAP_E
from assetgen_dagster.kinds.mesh.tiny import (
    TINY_DEPTH_REPO,
    TINY_SHAP_E_IMG2IMG_REPO,
    TINY_SHAP_E_REPO,
    build_tiny_depth,
    build_tiny_shap_e,
    build_tiny_shap_e_img2img,
)
from assetgen_dagster.models.catalog import ModelParams

CONCEPT_KIND = "concept_art"  # the kind whose images props are made from (declared: Kind.consumes)
MAX_MESH_GRID = 128
TINY_LICENSE = "random weights built locally; test use only"


class MeshItem(DiffusionItem):
    """Text -> mesh (Shap-E), or ``source: concept_art``: the ``concept`` item's image -> mesh by
    ``route: shape`` (Shap-E img2img) or ``route: relief`` (depth -> relief, for signs and wall pieces)."""

    kind: Literal["mesh"]
    source: Literal["text", "concept_art"] = "text"
    concept: str | None = None  # id of a concept_art item of the same batch, for source: concept_art
    route: Literal["shape", "relief"] | None = None  # source concept_art: shape (the default) or relief
    grid_size: Annotated[int, Field(ge=8, le=MAX_MESH_GRID)] = 32  # marching-cubes grid (cost ~ n^3)
    target_size: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0  # largest extent, metres
    lod_fractions: Annotated[list[Annotated[float, Field(gt=0.0, le=1.0)]], Field(min_length=1, max_length=6)] = [
        1.0, 0.5, 0.25, 0.1]
    max_faces: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    min_faces: Annotated[int, Field(ge=4, le=1_000_000)] = 64  # fewer: a degenerate output (enough_geometry)
    texture_size: Literal[64, 128, 256, 512, 1024, 2048] = 512  # the baked base-colour texture (text route)
    collision: Literal["hull", "decomposed"] = "hull"  # decomposed: V-HACD convex parts, for concave props
    max_hulls: Annotated[int, Field(ge=1, le=64)] = 8
    min_volume_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02  # of the bounding box, if watertight

    @field_validator("lod_fractions")
    @classmethod
    def _decreasing(cls, fractions: list[float]) -> list[float]:
        if any(b >= a for a, b in zip(fractions, fractions[1:])):
            raise ValueError("LOD fractions must strictly decrease (e.g. [1.0, 0.5, 0.25, 0.1])")
        return fractions

    def batch_problems(self, batch: PromptBatch) -> Iterable[tuple[str, str]]:
        concept = batch.item(self.concept) if self.concept else None
        if self.source == "concept_art" and (concept is None or concept.kind != CONCEPT_KIND):
            yield "concept", "source: concept_art needs `concept` naming a concept_art item of this batch"
        if self.source == "text" and self.concept is not None:
            yield "concept", "`concept` is only used with source: concept_art"
        if self.source == "text" and self.route is not None:
            yield "route", "`route` is only used with source: concept_art"

    @property
    def relief(self) -> bool:
        return self.source == "concept_art" and self.route == "relief"

    @property
    def shap_e(self) -> bool:
        """Made by a Shap-E pipeline (from text, or from the concept image): z-up, vertex colours."""
        return not self.relief


class MeshParams(ModelParams):
    """Generation defaults of a text-to-3D model."""

    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 64
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 15.0


TEXT_TO_3D = ModelRole(
    name="mesh",
    params=MeshParams,
    default={"repo_id": "openai/shap-e", "revision": "main", "pipeline": "ShapEPipeline", "dtype": "float16",
             "params": {"steps": 64, "guidance": 15.0, "batch_size": 1}, "license": "MIT"},
    tiny=TinyModel(TINY_SHAP_E_REPO, build_tiny_shap_e,
                   {"revision": "main", "pipeline": "ShapEPipeline", "dtype": "float32",
                    "params": {"steps": 2, "guidance": 3.0, "batch_size": 2}, "license": TINY_LICENSE}),
    full=FULL_SHAP_E,
)

IMAGE_TO_3D = ModelRole(
    name="image_to_3d",
    params=MeshParams,
    default={"repo_id": "openai/shap-e-img2img", "revision": "main", "pipeline": "ShapEImg2ImgPipeline",
             "dtype": "float16", "params": {"steps": 64, "guidance": 3.0, "batch_size": 1}, "license": "MIT"},
    tiny=TinyModel(TINY_SHAP_E_IMG2IMG_REPO, build_tiny_shap_e_img2img,
                   {"revision": "main", "pipeline": "ShapEImg2ImgPipeline", "dtype": "float32",
                    "params": {"steps": 2, "guidance": 3.0, "batch_size": 2}, "license": TINY_LICENSE}),
)

DEPTH = ModelRole(
    name="depth",
    params=ModelParams,
    default={"repo_id": "depth-anything/Depth-Anything-V2-Small-hf", "revision": "main",
             "pipeline": "depth-estimation", "dtype": "float32", "params": {}, "license": "Apache-2.0"},
    tiny=TinyModel(TINY_DEPTH_REPO, build_tiny_depth,
                   {"revision": "main", "pipeline": "depth-estimation", "dtype": "float32", "params": {},
                    "license": TINY_LICENSE}),
    library="transformers",
)


@dataclass(frozen=True)
class ShapeRequest:
    """A mesh from a concept image by Shap-E img2img: the image (relative to the output dir), its hash
    and every setting that changes the geometry and texture."""

    concept: str
    concept_sha256: str
    seed: int
    steps: int
    guidance: float
    grid_size: int
    target_size: float
    texture_size: int
    concept_path: Path = runtime_input()


@dataclass(frozen=True)
class ReliefRequest:
    """A relief from a concept image: the image (relative to the output directory) and its hash."""

    concept: str
    concept_sha256: str
    target_size: float
    concept_path: Path = runtime_input()


@dataclass(frozen=True)
class DerivedMeshRequest:
    """A mesh derived from a ``meshes`` GLB: the source (relative to the output dir), its hash, options."""

    source: str
    source_sha256: str
    lod_fractions: tuple[float, ...] = ()
    max_faces: int = 0
    collision: str = ""
    max_hulls: int = 0
    source_path: Path = runtime_input()


def finite_vertices(item: MeshItem, mesh: Any) -> Verdict:
    """No NaN/inf vertex and not a degenerate (flat, single-value) mesh."""
    import numpy as np

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        return fail("contains NaN or infinite vertices")
    if vertices.size == 0 or float(vertices.std()) == 0.0:
        return fail("degenerate: no spread in the vertices")
    return ok(vertices=len(vertices))


MAIN_PIECE_SHARE = 0.5  # the largest connected piece carries at least this share of the area


def enough_geometry(item: MeshItem, mesh: Any) -> Verdict:
    """At least ``min_faces`` faces, and (when the mesh is closed, so its volume means something)
    a volume of at least ``min_volume_share`` of its bounding box: not a sliver or a sheet."""
    from assetgen_dagster.kinds.mesh.geometry import solid

    mesh, faces = solid(mesh), len(mesh.faces)
    if faces < item.min_faces:
        return fail(f"{faces} faces, fewer than min_faces {item.min_faces}: a degenerate output", faces=faces)
    if not mesh.is_watertight:
        return ok(faces=faces, volume_share=None)
    box = float(mesh.bounding_box.volume)
    share = round(abs(float(mesh.volume)) / box, 4) if box > 0 else 0.0
    if share < item.min_volume_share:
        return fail(f"volume is {share:.1%} of its bounding box, under min_volume_share {item.min_volume_share:.0%}",
                    faces=faces, volume_share=share)
    return ok(faces=faces, volume_share=share)


def single_object(item: MeshItem, mesh: Any) -> Verdict:
    """One object: the largest connected piece carries most (>= 50 %) of the surface area."""
    from assetgen_dagster.kinds.mesh.geometry import solid

    pieces = solid(mesh).split(only_watertight=False)
    areas = sorted((float(piece.area) for piece in pieces), reverse=True)
    total = sum(areas)
    share = round(areas[0] / total, 4) if total > 0 else 0.0
    if share < MAIN_PIECE_SHARE:
        return fail(f"{len(pieces)} pieces; the largest has {share:.0%} of the area (a scatter, not one object)",
                    pieces=len(pieces), main_share=share)
    return ok(pieces=len(pieces), main_share=share)


def bounds_match(item: MeshItem, mesh: Any, tolerance: float = 0.01) -> Verdict:
    """Largest extent equals the item's target size (within ``tolerance``) and the mesh rests on y = 0."""
    low, high = mesh.bounds
    size = round(float((high - low).max()), 4)
    if abs(size - item.target_size) > tolerance * item.target_size:
        return fail(f"largest extent {size:.3f} m, target {item.target_size} m", extent=size)
    if abs(float(low[1])) > tolerance * item.target_size:
        return fail(f"lowest point at y = {float(low[1]):.3f}, not on the ground", extent=size)
    return ok(extent=size)


def read_glb(path: Any) -> dict[str, Any]:
    """The meshes of a written GLB file by geometry name (``LOD0``, ``collision``...)."""
    from assetgen_dagster.kinds.mesh.geometry import glb_meshes

    return glb_meshes(path.read_bytes())


class Meshes(ItemAsset):
    name = "meshes"
    code_version = "3"  # 2: text-route meshes are UV-unwrapped with a baked texture; 3: smooth vertex normals
    kind = "mesh"
    group = "meshes_3d"
    deps = (CONCEPT_KIND,)  # the concept_art asset (named like its kind)
    roles = ("mesh", "image_to_3d", "depth")
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    ui_kinds = ("pytorch", "3d")
    title = "meshes"
    checks = (
        ItemCheck("finite_vertices", "No NaN or infinite vertex, no degenerate (flat) mesh.", finite_vertices,
                  blocking=True),
        ItemCheck("bounds_match_target", "Largest extent = the item's target_size (+-1 %), resting on y = 0.",
                  bounds_match, blocking=True),
        ItemCheck("enough_geometry", "At least min_faces faces (64), and a closed mesh's volume at least "
                  "min_volume_share (2 %) of its bounding box.", enough_geometry, blocking=True,
                  summary=worst("faces", "min_faces", highest=False)),
        ItemCheck("single_object", "The largest connected piece carries at least half of the surface area.",
                  single_object, blocking=True, summary=worst("main_share", "min_main_share", highest=False)),
    )
    description = (
        "3D meshes per `mesh` item: text -> Shap-E latents -> marching cubes on the item's `grid_size`; "
        "`source: concept_art`: the `concept` item's image -> Shap-E img2img the same way (`route: shape`, "
        "the default) or -> depth model -> textured relief (`route: relief`, for flat props). Cleaned "
        "(duplicates, degenerate faces, floaters, winding, normals), Y-up, grounded, scaled to `target_size` "
        "metres; Shap-E meshes UV-unwrapped with a baked base-colour texture. "
        "`<output_dir>/<batch>/meshes/<item>.glb`."
    )

    def role(self, item: MeshItem) -> str:
        return "mesh" if item.source == "text" else "depth" if item.relief else "image_to_3d"

    def request(self, ctx: BatchContext, item: MeshItem) -> Any:
        from assetgen_dagster.kinds.mesh.geometry import MeshRequest

        if item.relief:
            concept, sha256 = ctx.upstream_file(CONCEPT_KIND, item.concept, item.id)
            return ReliefRequest(concept, sha256, item.target_size, concept_path=ctx.absolute(concept))
        role = self.role(item)
        params = ctx.generation_params(item, role)
        shared = (ctx.seed(item), params["steps"], params["guidance"], item.grid_size, item.target_size,
                  item.texture_size)
        if role == "image_to_3d":
            concept, sha256 = ctx.upstream_file(CONCEPT_KIND, item.concept, item.id)
            return ShapeRequest(concept, sha256, *shared, concept_path=ctx.absolute(concept))
        return MeshRequest(item.prompt, *shared)

    def generate(self, model: Any, requests: Sequence[Any]) -> list[Any]:
        """Raw meshes: Shap-E latents (from the prompt or the concept image) decoded by marching
        cubes, or a relief from each concept's depth."""
        from PIL import Image

        from assetgen_dagster.kinds.mesh.geometry import image_to_meshes, relief_mesh, text_to_meshes

        if isinstance(requests[0], ShapeRequest):
            images = [Image.open(request.concept_path).convert("RGB") for request in requests]
            return image_to_meshes(model.pipeline, list(requests), images, len(requests))
        if not isinstance(requests[0], ReliefRequest):
            return text_to_meshes(model.pipeline, list(requests), len(requests))
        reliefs = []
        for request in requests:
            image = Image.open(request.concept_path).convert("RGB")
            depth = model.pipeline(image)["predicted_depth"].float().cpu().numpy().squeeze()
            reliefs.append(relief_mesh(image, depth))
        return reliefs

    def write(self, out: ItemOutput, item: MeshItem, request: Any, raw: Any) -> Any:
        from assetgen_dagster.kinds.mesh.geometry import bake_texture, clean, export_glb, to_game_space

        if len(raw.faces) == 0:
            raise ItemRejected("enough_geometry", f"the model's field has no surface on the {item.grid_size}^3 grid "
                                                  "(an empty mesh): nothing was written")
        mesh, report = clean(raw)
        mesh = to_game_space(mesh, item.target_size, up_axis="z" if item.shap_e else "y")
        if item.shap_e:  # vertex colours -> UVs (xatlas) and a base-colour texture; reliefs have theirs
            mesh = bake_texture(mesh, item.texture_size)
        out.write_bytes(export_glb([mesh], [], {**out.provenance, "cleanup": report.__dict__}), ".glb")
        return mesh

    def load(self, out: ItemOutput, item: MeshItem) -> Any:
        return read_glb(out.files[0])["LOD0"]

    def stats(self, item: MeshItem, mesh: Any) -> dict[str, Any]:
        from assetgen_dagster.kinds.mesh.geometry import mesh_stats

        texture = getattr(getattr(mesh.visual, "material", None), "baseColorTexture", None)
        return {**mesh_stats(mesh), **({"texture": "x".join(map(str, texture.size))} if texture else {})}

    def preview(self, out: ItemOutput, item: MeshItem) -> Any:
        from assetgen_dagster.kinds.mesh.geometry import render_views

        return render_views(self.load(out, item))


class DerivedMesh(ItemAsset):
    """A GLB derived per item from the ``meshes`` GLB, skipped for a mesh that failed a blocking check."""

    kind = "mesh"
    group = "meshes_3d"
    deps = ("meshes",)
    ui_kinds = ("trimesh", "3d")

    def request(self, ctx: BatchContext, item: MeshItem) -> DerivedMeshRequest:
        source, sha256 = ctx.upstream_file("meshes", item.id, item.id)
        return DerivedMeshRequest(source, sha256, **self.options(item), source_path=ctx.absolute(source))

    def options(self, item: MeshItem) -> dict[str, Any]:
        return {}

    def source_meshes(self, requests: Sequence[DerivedMeshRequest]) -> list[Any]:
        return [read_glb(request.source_path)["LOD0"] for request in requests]

    def preview(self, out: ItemOutput, item: MeshItem) -> Any:
        """Every mesh of the GLB (each LOD, or the hull) from the front, side by side."""
        from assetgen_dagster.kinds.mesh.geometry import render_preview

        meshes = [mesh for _, mesh in sorted(read_glb(out.files[0]).items())]
        return grid([render_preview(mesh, 64) for mesh in meshes], columns=2)


def lod_budgets(item: MeshItem, lods: tuple[list[Any], list[Any]]) -> Verdict:
    """Each LOD has fewer faces than the one before and no more than its budget."""
    _, written = lods
    faces = [len(level.faces) for level in written]
    top = min(faces[0], item.max_faces) if faces else 0
    if any(b >= a for a, b in zip(faces, faces[1:])):
        return fail(f"face counts do not strictly decrease: {faces}", faces=faces)
    if faces and faces[0] > item.max_faces:
        return fail(f"LOD0 has {faces[0]} faces, budget {item.max_faces}", faces=faces)
    if any(count > max(4, int(top * fraction)) for count, fraction in zip(faces[1:], item.lod_fractions[1:])):
        return fail(f"a level exceeds its budget: {faces} for {item.lod_fractions} of {top}", faces=faces)
    return ok(faces=faces)


def round_trip(item: MeshItem, lods: tuple[list[Any], list[Any]]) -> Verdict:
    """What was exported reloads with the same face counts."""
    produced, written = lods
    before, after = [len(m.faces) for m in produced], [len(m.faces) for m in written]
    return ok() if before == after else fail(f"exported {before}, reloaded {after}")


class MeshLods(DerivedMesh):
    name = "mesh_lods"
    code_version = "2"  # 2: smooth vertex normals
    title = "LODs"
    checks = (
        ItemCheck("lods_decrease_within_budget", "Face counts strictly decrease and meet each level's budget.",
                  lod_budgets),
        ItemCheck("glb_round_trip", "Every GLB reloads with the face counts that were exported.", round_trip),
    )
    description = (
        "LOD chain per mesh by quadric decimation at the item's `lod_fractions` (default 100/50/25/10 %) "
        "of at most `max_faces`: one GLB with nodes LOD0..n. `<output_dir>/<batch>/mesh_lods/<item>.glb`."
    )

    def options(self, item: MeshItem) -> dict[str, Any]:
        return {"lod_fractions": tuple(item.lod_fractions), "max_faces": item.max_faces}

    def generate(self, model: None, requests: Sequence[DerivedMeshRequest]) -> list[Any]:
        from assetgen_dagster.kinds.mesh.geometry import lod_chain

        return [lod_chain(mesh, request.lod_fractions, request.max_faces)
                for mesh, request in zip(self.source_meshes(requests), requests)]

    def write(self, out: ItemOutput, item: MeshItem, request: DerivedMeshRequest, raw: list[Any]) -> Any:
        from assetgen_dagster.kinds.mesh.geometry import export_glb

        path = out.write_bytes(export_glb(raw, [], {**out.provenance, "lod_faces": [len(m.faces) for m in raw]}),
                               ".glb")
        return raw, self._levels(path)

    def load(self, out: ItemOutput, item: MeshItem) -> Any:
        levels = self._levels(out.files[0])
        return levels, levels

    @staticmethod
    def _levels(path: Any) -> list[Any]:
        return [mesh for name, mesh in sorted(read_glb(path).items()) if name.startswith("LOD")]

    def stats(self, item: MeshItem, lods: Any) -> dict[str, Any]:
        return {"lod_faces": [len(level.faces) for level in lods[1]]}


def hulls_convex_watertight(item: MeshItem, hulls: list[Any]) -> Verdict:
    """Every collision part (one hull, or each decomposed part) is convex and watertight."""
    bad = [f"part {index}: {'not convex' if not hull.is_convex else 'not watertight'}"
           for index, hull in enumerate(hulls) if not (hull.is_convex and hull.is_watertight)]
    return fail("; ".join(bad), parts=len(hulls)) if bad else ok(parts=len(hulls))


class CollisionMeshes(DerivedMesh):
    name = "collision_meshes"
    title = "collision"
    checks = (
        ItemCheck("hull_convex_watertight", "Every collision part (the hull, or each decomposed part) is convex "
                  "and watertight.", hulls_convex_watertight),
    )
    description = (
        "Collision per mesh: its convex hull (`collision: hull`, node `collision-convcolonly`), or for concave "
        "props (`collision: decomposed`) up to `max_hulls` convex parts by V-HACD (vhacdx through trimesh), "
        "nodes `collision_00-convcolonly`, ... (Godot imports `-convcolonly` nodes as convex collision "
        "shapes). `<output_dir>/<batch>/collision_meshes/<item>.glb`."
    )

    def options(self, item: MeshItem) -> dict[str, Any]:
        return {"collision": item.collision, "max_hulls": item.max_hulls if item.collision == "decomposed" else 1}

    def generate(self, model: None, requests: Sequence[DerivedMeshRequest]) -> list[Any]:
        from assetgen_dagster.kinds.mesh.geometry import collision_hull, convex_parts

        return [convex_parts(mesh, request.max_hulls) if request.collision == "decomposed" else [collision_hull(mesh)]
                for mesh, request in zip(self.source_meshes(requests), requests)]

    def write(self, out: ItemOutput, item: MeshItem, request: DerivedMeshRequest, raw: list[Any]) -> Any:
        from assetgen_dagster.kinds.mesh.geometry import export_glb

        path = out.write_bytes(export_glb([], raw, {**out.provenance, "hull_faces": [len(h.faces) for h in raw]}),
                               ".glb")
        return self._parts(path)

    def load(self, out: ItemOutput, item: MeshItem) -> Any:
        return self._parts(out.files[0])

    @staticmethod
    def _parts(path: Any) -> list[Any]:
        return [mesh for name, mesh in sorted(read_glb(path).items()) if name.startswith("collision")]

    def stats(self, item: MeshItem, hulls: list[Any]) -> dict[str, Any]:
        return {"hull_faces": sum(len(hull.faces) for hull in hulls), "parts": len(hulls)}


def engine_files(item: MeshItem, sources: dict[str, dict[str, Path]]) -> dict[str, bytes]:
    """A prop as engines take it: ``meshes/<item>.glb``, LOD0 with its collision parts as
    ``-convcolonly`` nodes (Godot builds a StaticBody with convex shapes on import), and
    ``meshes/<item>_LOD<n>.glb``, one level per file, so no engine draws two levels at once."""
    from assetgen_dagster.kinds.mesh.geometry import export_glb, load_glb

    [lods_file] = sources["mesh_lods"].values()
    [collision_file] = sources["collision_meshes"].values()
    lods_scene, collision_scene = load_glb(lods_file.read_bytes()), load_glb(collision_file.read_bytes())
    levels = [mesh for name, mesh in sorted(lods_scene.geometry.items()) if name.startswith("LOD")]
    hulls = [mesh for name, mesh in sorted(collision_scene.geometry.items()) if name.startswith("collision")]
    provenance = {"lods": lods_scene.metadata.get("assetgen", {}),
                  "collision": collision_scene.metadata.get("assetgen", {})}
    files = {f"meshes/{item.id}.glb": export_glb(levels[:1], hulls, provenance)}
    for index, level in enumerate(levels):
        files[f"meshes/{item.id}_LOD{index}.glb"] = export_glb([level], [], {**provenance, "level": index})
    return files


def review(card: Any) -> Any:
    """LOD0 and the collision shape (hull or convex parts) in the 3D viewer, with the LOD face counts."""

    parts = []
    if "meshes" in card.entries and "files" in card.entries["meshes"]:
        [name] = card.entries["meshes"]["files"]
        parts.append(viewer(card.review_file(card.folders["meshes"] / name, f"meshes/{name}"), "LOD0"))
    for _, source in card.files.get("collision_meshes", []):
        count = card.entries.get("collision_meshes", {}).get("stats", {}).get("parts", 1)
        parts.append(viewer(card.review_file(source, f"collision/{source.name}"),
                            "collision hull" if count == 1 else f"collision: {count} convex parts"))
    faces = card.entries.get("mesh_lods", {}).get("stats", {}).get("lod_faces")
    if faces:
        parts.append(Markup("<p><small>LOD faces: {}</small></p>").format(" / ".join(map(str, faces))))
    return Markup("").join(parts)


KIND = Kind(
    name="mesh",
    item=MeshItem,
    assets=(Meshes(), MeshLods(), CollisionMeshes()),
    pack=(PackTarget("mesh_lods", lambda item_id, file_name: f"meshes/{item_id}.glb"),
          PackTarget("collision_meshes", lambda item_id, file_name: f"meshes/{item_id}.glb")),
    assemble=engine_files,
    models=(TEXT_TO_3D, IMAGE_TO_3D, DEPTH),
    summary="3D props (GLB) from text or a concept image, textured, with LODs and convex collision.",
    review=review,
    consumes=(CONCEPT_KIND,),
)
