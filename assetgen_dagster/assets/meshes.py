"""``meshes`` (text -> Shap-E, or concept image -> depth -> relief), then ``mesh_lods`` and
``collision_meshes``: game-ready GLBs per item with provenance in glTF extras."""

import time

from dagster import AssetExecutionContext, AutomationCondition, BackfillPolicy, Failure, MaterializeResult, asset

from assetgen_dagster import __version__
from assetgen_dagster.assets.checks import spec
from assetgen_dagster.assets.common import MODEL_ASSET_ARGS, OWNERS, read_partition_batch
from assetgen_dagster.assets.images import (
    BatchOutcome,
    Manifest,
    digest,
    entry,
    file_record,
    materialize_partitions,
    output_path,
)
from assetgen_dagster.batches import item_params, item_seed
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import atomic_write_bytes
from assetgen_dagster.partitions import prompt_batches

MESHES, LODS, COLLISION = "meshes", "mesh_lods", "collision_meshes"
CODE_VERSION = "1"
MESH_CHECKS = ("finite_vertices", "bounds_match_target")
LOD_CHECKS = ("lods_decrease_within_budget", "glb_round_trip")
COLLISION_CHECKS = ("hull_convex_watertight",)
FOLLOWER_ARGS = dict(
    partitions_def=prompt_batches, backfill_policy=BackfillPolicy.single_run(),
    automation_condition=AutomationCondition.eager(), group_name="meshes_3d", kinds={"trimesh", "3d"},
    owners=OWNERS, code_version=CODE_VERSION,
)


def _generate(context, models: ModelLoader, plan_items, requests, images) -> dict:
    """Raw meshes for the items to (re)generate: Shap-E for text items, depth relief for the rest;
    and per model role used, its (provenance, metadata)."""
    from assetgen_dagster.generate.meshes import relief_mesh, text_to_meshes

    raw, used = {}, {}
    text = [item for item in plan_items if item.source == "text"]
    if text:
        with models.use("mesh", on_progress=context.log.info) as model:
            meshes = model.run(lambda bs: text_to_meshes(model.pipeline, [requests[i.id] for i in text], bs),
                               batch_size=model.spec.params.batch_size, on_step_down=context.log.warning)
            raw.update(zip((i.id for i in text), meshes))
            used["mesh"] = (model.provenance(), model.metadata())
    relief = [item for item in plan_items if item.source == "concept_art"]
    if relief:
        with models.use("depth", on_progress=context.log.info) as model:
            for item in relief:
                depth = model.pipeline(images[item.id])["predicted_depth"].float().cpu().numpy().squeeze()
                raw[item.id] = relief_mesh(images[item.id], depth)
            used["depth"] = (model.provenance(), model.metadata())
    return raw, used


def meshes_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    from PIL import Image

    from assetgen_dagster import checks
    from assetgen_dagster.generate.meshes import MeshRequest, clean, export_glb, mesh_stats, render_preview, to_game_space

    batch, path = read_partition_batch(batch_id)
    items = batch.items_of_kind("mesh")
    outcome = BatchOutcome(batch_id, items=len(items))
    if not items:
        return outcome
    resolved = {role: models.resolve(role) for role in {"mesh" if i.source == "text" else "depth" for i in items}}
    manifest = Manifest(batch_id, MESHES)
    requests, images, identities, todo = {}, {}, {}, []
    for item in items:
        options = item.model_dump(mode="json", exclude={"id", "kind"})
        if item.source == "text":
            params, defaults = item_params(batch, item), resolved["mesh"].spec.params
            requests[item.id] = MeshRequest(item.id, item.prompt, item_seed(batch, item),
                                            params.get("steps", defaults.steps),
                                            params.get("guidance", defaults.guidance), item.grid_size)
            source = {"request": requests[item.id].__dict__, **resolved["mesh"].identity()}
        else:
            concept = output_path(batch_id, "concept_art", item.concept)
            if not concept.is_file():
                raise Failure(f"{path.name}: item {item.id!r}: its concept image {concept} is missing; materialize "
                              f"`concept_art` for this partition first", allow_retries=False)
            images[item.id] = Image.open(concept).convert("RGB")
            source = {"concept_sha256": file_record(concept)["sha256"], **resolved["depth"].identity()}
        identities[item.id] = digest({"asset": f"{MESHES}/{CODE_VERSION}", "options": options, **source})
        if not manifest.reuse(item.id, identities[item.id]):
            todo.append(item)

    started = time.perf_counter()
    raw, used = _generate(context, models, todo, requests, images) if todo else ({}, {})
    generate_seconds = time.perf_counter() - started
    stats, finite, bounds = {}, {}, {}
    for item in items:
        out = output_path(batch_id, MESHES, item.id, ".glb")
        if item.id in raw:
            mesh, report = clean(raw[item.id])
            mesh = to_game_space(mesh, item.target_size, up_axis="z" if item.source == "text" else "y")
            provenance = {"generator": f"assetgen-dagster {__version__}", "code_version": f"{MESHES}/{CODE_VERSION}",
                          "batch": batch_id, "item": item.id, "identity": identities[item.id],
                          "source": item.source, "prompt": item.prompt, "cleanup": report.__dict__,
                          **({"request": requests[item.id].__dict__} if item.id in requests else
                             {"concept": item.concept}),
                          **used["mesh" if item.source == "text" else "depth"][0]}
            atomic_write_bytes(out, export_glb([mesh], None, provenance))
            manifest.add(item.id, entry(identities[item.id], [out], provenance))
            outcome.previews.append(render_preview(mesh))
        else:
            from assetgen_dagster.generate.meshes import glb_meshes

            mesh = glb_meshes(out.read_bytes())["LOD0"]
        outcome.files.append(out)
        stats[item.id] = mesh_stats(mesh)
        finite[item.id] = mesh.vertices
        bounds[item.id] = (mesh.bounds, item.target_size)
    manifest.finish([item.id for item in items])
    outcome.generated, outcome.reused = len(todo), len(items) - len(todo)
    outcome.identities = list(identities.values())
    outcome.extra["mesh_stats"] = stats
    outcome.model_metadata = (used.get("mesh") or used.get("depth") or ({}, {}))[1]
    outcome.seconds = {"generate_seconds": generate_seconds}
    outcome.checks = {"finite_vertices": checks.not_constant(finite), "bounds_match_target": checks.bounds_match(bounds)}
    return outcome


@asset(
    name=MESHES,
    deps=["concept_art"],
    group_name="meshes_3d",
    code_version=CODE_VERSION,
    **{**MODEL_ASSET_ARGS, "kinds": {"pytorch", "3d"}},
    check_specs=[
        spec(MESHES, "finite_vertices", "No NaN or infinite vertex, no degenerate (flat) mesh.", blocking=True),
        spec(MESHES, "bounds_match_target", "Largest extent = the item's target_size (+-1 %), resting on y = 0.",
             blocking=True),
    ],
    description=(
        "3D meshes per `mesh` item: text -> Shap-E latents -> marching cubes on the item's `grid_size`, or "
        "(`source: concept_art`) the `concept` item's image -> depth model -> textured relief. Cleaned "
        "(duplicates, degenerate faces, floaters, winding, normals), Y-up, grounded, scaled to `target_size` "
        "metres. `<output_dir>/<batch>/meshes/<item>.glb`."
    ),
)
def meshes(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    return materialize_partitions(context, lambda batch_id: meshes_batch(context, models, batch_id),
                                  MESH_CHECKS, "meshes")


def _follow(batch_id: str, asset_name: str, options: dict, build) -> tuple[BatchOutcome, dict]:
    """A per-item derivative of ``meshes`` (LODs, hull), reused while its source mesh and
    ``options[item.id]`` are unchanged. Returns the outcome and, per item, (GLB meshes as written,
    what ``build`` produced or None if reused) for the caller's checks."""
    from assetgen_dagster.generate.meshes import glb_meshes

    batch, path = read_partition_batch(batch_id)
    items = batch.items_of_kind("mesh")
    outcome, manifest, results = BatchOutcome(batch_id, items=len(items)), Manifest(batch_id, asset_name), {}
    for item in items:
        source = output_path(batch_id, MESHES, item.id, ".glb")
        if not source.is_file():
            raise Failure(f"{path.name}: item {item.id!r}: mesh {source} is missing; materialize `meshes` for this "
                          f"partition first", allow_retries=False)
        identity = digest({"asset": f"{asset_name}/{CODE_VERSION}", "source": file_record(source)["sha256"],
                           "options": options(item)})
        out = output_path(batch_id, asset_name, item.id, ".glb")
        if manifest.reuse(item.id, identity):
            outcome.reused += 1
            results[item.id] = (glb_meshes(out.read_bytes()), None)
        else:
            data, produced = build(item, glb_meshes(source.read_bytes())["LOD0"],
                                   {"source": str(source), "identity": identity,
                                    "code_version": f"{asset_name}/{CODE_VERSION}"})
            atomic_write_bytes(out, data)
            manifest.add(item.id, entry(identity, [out], {"identity": identity, "source": str(source)}))
            outcome.generated += 1
            results[item.id] = (glb_meshes(data), produced)
        outcome.files.append(out)
        outcome.identities.append(identity)
    manifest.finish([item.id for item in items])
    return outcome, results


def lods_batch(batch_id: str) -> BatchOutcome:
    from assetgen_dagster import checks
    from assetgen_dagster.generate.meshes import export_glb, lod_chain

    budgets = {}

    def build(item, mesh, provenance):
        lods = lod_chain(mesh, tuple(item.lod_fractions), item.max_faces)
        return export_glb(lods, None, {**provenance, "lod_faces": [len(m.faces) for m in lods]}), lods

    def options(item):
        budgets[item.id] = (item.lod_fractions, item.max_faces)
        return {"lods": item.lod_fractions, "max_faces": item.max_faces}

    outcome, results = _follow(batch_id, LODS, options, build)
    written = {item_id: [m for name, m in sorted(glb.items()) if name.startswith("LOD")]
               for item_id, (glb, _) in results.items()}
    produced = {item_id: lods for item_id, (_, lods) in results.items() if lods is not None}
    outcome.extra["lod_faces"] = {item_id: [len(m.faces) for m in lods] for item_id, lods in written.items()}
    outcome.checks = {
        "lods_decrease_within_budget": checks.lod_budgets(written, budgets),
        "glb_round_trip": checks.same_face_counts(produced, written),
    }
    return outcome


def collision_batch(batch_id: str) -> BatchOutcome:
    from assetgen_dagster import checks
    from assetgen_dagster.generate.meshes import collision_hull, export_glb

    def build(item, mesh, provenance):
        hull = collision_hull(mesh)
        return export_glb([], hull, {**provenance, "hull_faces": len(hull.faces)}), hull

    outcome, results = _follow(batch_id, COLLISION, lambda item: {}, build)  # a hull has no options
    hulls = {item_id: glb["collision"] for item_id, (glb, _) in results.items()}
    outcome.extra["hull_faces"] = {item_id: len(h.faces) for item_id, h in hulls.items()}
    outcome.checks = {"hull_convex_watertight": checks.convex_watertight(hulls)}
    return outcome


@asset(
    name=LODS,
    deps=[MESHES],
    **FOLLOWER_ARGS,
    check_specs=[
        spec(LODS, "lods_decrease_within_budget", "Face counts strictly decrease and meet each level's budget."),
        spec(LODS, "glb_round_trip", "Every GLB reloads with the face counts that were exported."),
    ],
    description=(
        "LOD chain per mesh by quadric decimation at the item's `lod_fractions` (default 100/50/25/10 %) "
        "of at most `max_faces`: one GLB with nodes LOD0..n. `<output_dir>/<batch>/mesh_lods/<item>.glb`."
    ),
)
def mesh_lods(context: AssetExecutionContext) -> MaterializeResult:
    return materialize_partitions(context, lods_batch, LOD_CHECKS, "LODs")


@asset(
    name=COLLISION,
    deps=[MESHES],
    **FOLLOWER_ARGS,
    check_specs=[spec(COLLISION, "hull_convex_watertight", "Every collision hull is convex and watertight.")],
    description=(
        "Collision shape per mesh: its convex hull, in a GLB node named `collision-col` (Godot imports "
        "`-col` nodes as collision). `<output_dir>/<batch>/collision_meshes/<item>.glb`."
    ),
)
def collision_meshes(context: AssetExecutionContext) -> MaterializeResult:
    return materialize_partitions(context, collision_batch,
                                  COLLISION_CHECKS, "collision hulls")
