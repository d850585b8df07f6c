"""Game-ready meshes from raw generator output: cleanup, orientation and scale, LODs, collision
hull, GLB export with provenance, and a small software-rendered preview. No Dagster here.

trimesh does the geometry (merging, repair, hulls, glTF); quadric decimation comes from
fast-simplification through ``Trimesh.simplify_quadric_decimation``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from assetgen_dagster.engine.preview import grid

DEFAULT_LOD_FRACTIONS = (1.0, 0.5, 0.25, 0.1)
PREVIEW_FACES = 3000


@dataclass(frozen=True)
class CleanupReport:
    merged_vertices: int
    dropped_faces: int
    dropped_components: int


def clean(mesh: trimesh.Trimesh, min_component_fraction: float = 0.02) -> tuple[trimesh.Trimesh, CleanupReport]:
    """Merge duplicate vertices, drop degenerate and duplicate faces and small floating pieces
    (by area, relative to the largest piece), then make winding consistent and normals outward."""
    mesh = mesh.copy()
    vertices, faces = len(mesh.vertices), len(mesh.faces)
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    # Pieces by face connectivity, measured by area; vectorised, since a generator can emit
    # thousands of specks (Mesh.split builds a submesh per piece: seconds at that count).
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
    areas = np.bincount(labels, weights=mesh.area_faces)
    keep = areas >= min_component_fraction * areas.max()
    dropped = int((~keep).sum())
    if dropped:
        mesh.update_faces(keep[labels])
        mesh.remove_unreferenced_vertices()
    trimesh.repair.fix_winding(mesh)
    trimesh.repair.fix_normals(mesh)
    report = CleanupReport(merged_vertices=vertices - len(mesh.vertices),
                           dropped_faces=faces - len(mesh.faces), dropped_components=dropped)
    return mesh, report


def to_game_space(mesh: trimesh.Trimesh, target_size: float, up_axis: str = "z") -> trimesh.Trimesh:
    """Y-up (glTF), centred over the origin, resting on the ground plane, largest extent = ``target_size`` metres."""
    mesh = mesh.copy()
    if up_axis == "z":
        mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    elif up_axis != "y":
        raise ValueError("up_axis must be 'y' or 'z'")
    mesh.apply_scale(target_size / float(mesh.extents.max()))
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -low[1], -(low[2] + high[2]) / 2])
    return mesh


def lod_chain(mesh: trimesh.Trimesh, fractions: tuple[float, ...] = DEFAULT_LOD_FRACTIONS,
              max_faces: int | None = None) -> list[trimesh.Trimesh]:
    """LOD0..n at ``fractions`` of the face count (LOD0 capped by ``max_faces``), by quadric
    decimation; each level strictly smaller than the one before."""
    top = min(len(mesh.faces), max_faces or len(mesh.faces))
    levels, previous = [], None
    for fraction in fractions:
        budget = max(4, int(top * fraction))
        level = mesh if budget >= len(mesh.faces) else _keep_uvs(mesh.simplify_quadric_decimation(face_count=budget), mesh)
        if previous is not None and len(level.faces) >= len(previous.faces):
            break  # too small to decimate further: stop the chain rather than repeat a level
        levels.append(level)
        previous = level
    return levels


def pbr_material(base_colour: Any) -> trimesh.visual.material.PBRMaterial:
    """A glTF metallic-roughness material: the base-colour texture, not metallic, fairly rough
    (what a prop without measured material maps is closest to)."""
    return trimesh.visual.material.PBRMaterial(baseColorTexture=base_colour, metallicFactor=0.0,
                                               roughnessFactor=0.9, name="base")


def bake_texture(mesh: trimesh.Trimesh, size: int) -> trimesh.Trimesh:
    """UV-unwrap with xatlas and bake the vertex colours into a ``size`` x ``size`` base-colour texture.

    Each triangle is painted in UV space with the mean colour of its corners (PIL), and the texels
    no chart covers take the colour of the nearest covered one (scipy's distance transform), so
    mip-maps and bilinear filtering do not bleed the background in at chart borders."""
    import xatlas
    from PIL import Image, ImageDraw
    from scipy.ndimage import distance_transform_edt

    colours = np.asarray(mesh.visual.vertex_colors)[:, :3] if mesh.visual.kind == "vertex" else \
        np.full((len(mesh.vertices), 3), 200, np.uint8)
    mapping, faces, uv = xatlas.parametrize(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    pixels = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]) * size  # trimesh UVs have v up; image rows go down
    face_colours = colours[mapping][faces].mean(axis=1).astype(np.uint8)
    image = Image.new("RGB", (size, size))
    covered = Image.new("L", (size, size))
    paint, mark = ImageDraw.Draw(image), ImageDraw.Draw(covered)
    for face, colour in zip(faces, face_colours):
        corners = [tuple(point) for point in pixels[face]]
        paint.polygon(corners, fill=tuple(int(c) for c in colour))
        mark.polygon(corners, fill=255)
    texels, inside = np.asarray(image).copy(), np.asarray(covered) > 0
    if inside.any():
        _, (rows, cols) = distance_transform_edt(~inside, return_indices=True)
        texels = texels[rows, cols]
    visual = trimesh.visual.TextureVisuals(uv=uv, material=pbr_material(Image.fromarray(texels)))
    return trimesh.Trimesh(mesh.vertices[mapping], faces.astype(np.int64), visual=visual, process=False)


def _keep_uvs(level: trimesh.Trimesh, source: trimesh.Trimesh) -> trimesh.Trimesh:
    """Decimation drops texture coordinates: give each kept vertex the UV of the nearest source
    vertex (decimation keeps positions on the surface), and the source's material."""
    uv = getattr(source.visual, "uv", None)
    if uv is None:
        return level
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(source.vertices).query(level.vertices)
    level.visual = trimesh.visual.TextureVisuals(uv=uv[nearest], material=source.visual.material)
    return level


def collision_hull(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The convex hull: the cheapest collision shape every engine accepts."""
    return mesh.convex_hull


VHACD_RESOLUTION = 100_000  # voxels; V-HACD's default 400k takes ~3 s a prop on one core for little gain


def convex_parts(mesh: trimesh.Trimesh, max_hulls: int, resolution: int = VHACD_RESOLUTION) -> list[trimesh.Trimesh]:
    """Approximate convex decomposition (V-HACD through trimesh and vhacdx), at most ``max_hulls``
    parts, each made exactly convex and watertight by taking its hull. Single-threaded, so the
    same mesh always gives the same parts."""
    parts = mesh.convex_decomposition(maxConvexHulls=max_hulls, resolution=resolution, asyncACD=False)
    hulls = [part.convex_hull for part in (parts if isinstance(parts, list) else [parts])]
    return [hull for hull in hulls if hull.volume > 0] or [mesh.convex_hull]


CREASE_DEGREES = 60.0  # faces meeting at a sharper angle than this keep a hard edge


def with_smooth_normals(mesh: trimesh.Trimesh, crease_degrees: float = CREASE_DEGREES) -> trimesh.Trimesh:
    """The mesh with per-vertex normals an engine shades smoothly: each corner gets the area-weighted
    mean normal of the faces around its position that bend from its own face by less than
    ``crease_degrees``; a vertex whose corners disagree (a hard edge) is split. Positions are compared
    welded, so UV seams (already split vertices) stay smooth. trimesh's own vertex normals would
    average across hard edges, its smooth_shade drops the UVs."""
    faces = np.asarray(mesh.faces)
    if len(faces) == 0:
        return mesh
    face_normals = np.asarray(mesh.face_normals, dtype=np.float64)
    weights = np.asarray(mesh.area_faces, dtype=np.float64)[:, None]
    _, position = np.unique(np.round(np.asarray(mesh.vertices) / 1e-6).astype(np.int64), axis=0,
                            return_inverse=True)
    corner_position = position.reshape(-1)[faces.reshape(-1)]
    # Every pair of corners at the same position: a corner gathers the faces of the others.
    order = np.argsort(corner_position, kind="stable")
    sorted_position = corner_position[order]
    starts = np.flatnonzero(np.r_[True, sorted_position[1:] != sorted_position[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    group = np.repeat(np.arange(len(starts)), sizes)
    pairs = sizes[group]
    first = np.repeat(np.arange(len(order)), pairs)
    offset = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    second = starts[group][first] + offset
    corner, other = order[first], order[second]
    face, other_face = corner // 3, other // 3
    smooth = (face_normals[face] * face_normals[other_face]).sum(axis=1) >= np.cos(np.radians(crease_degrees))
    normals = np.zeros((len(corner_position), 3))
    np.add.at(normals, corner[smooth], face_normals[other_face[smooth]] * weights[other_face[smooth]])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    fallback = np.repeat(face_normals, 3, axis=0)  # a corner no face around it agrees with
    fallback[np.linalg.norm(fallback, axis=1) < 0.5] = (0.0, 1.0, 0.0)  # a degenerate face has no normal
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), fallback)
    # One output vertex per (input vertex, normal): split only where a hard edge runs through it.
    keys = np.column_stack([faces.reshape(-1), np.round(normals * 1e4).astype(np.int64)])
    _, first_corner, new_index = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    source = faces.reshape(-1)[first_corner]
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals) and visual.uv is not None:
        visual = trimesh.visual.TextureVisuals(uv=np.asarray(visual.uv)[source], material=visual.material)
    else:
        visual = None
    return trimesh.Trimesh(np.asarray(mesh.vertices)[source], new_index.reshape(-1).reshape(faces.shape),
                           vertex_normals=normals[first_corner], visual=visual, process=False)


def export_glb(lods: list[trimesh.Trimesh], hulls: list[trimesh.Trimesh], provenance: dict[str, Any]) -> bytes:
    """One GLB: nodes ``LOD0``..``LODn`` (with smooth vertex normals, hard edges kept) and the
    collision hulls, provenance in the glTF scene's ``extras``.

    One hull is node ``collision-convcolonly``; several are ``collision_00-convcolonly``, ... Godot's
    importer turns a ``-convcolonly`` node into a convex collision shape without a visible mesh."""
    scene = trimesh.Scene()
    for index, level in enumerate(lods):
        scene.add_geometry(with_smooth_normals(level), node_name=f"LOD{index}", geom_name=f"LOD{index}")
    for index, hull in enumerate(hulls):
        name = "collision" if len(hulls) == 1 else f"collision_{index:02d}"
        scene.add_geometry(hull, node_name=f"{name}-convcolonly", geom_name=name)
    scene.metadata["assetgen"] = json.loads(json.dumps(provenance))
    return scene.export(file_type="glb")


def glb_meshes(data: bytes) -> dict[str, trimesh.Trimesh]:
    """The meshes of a GLB by geometry name (``LOD0``, ``collision``...)."""
    return dict(load_glb(data).geometry)


def load_glb(data: bytes) -> trimesh.Scene:
    return trimesh.load(io.BytesIO(data), file_type="glb", force="scene")


def solid(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The bare geometry with coincident vertices merged: UV seams split vertices (a textured mesh is
    open along every chart border), which must not change whether it is closed or in one piece."""
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    welded.merge_vertices()
    return welded


def mesh_stats(mesh: trimesh.Trimesh) -> dict[str, Any]:
    mesh = solid(mesh)
    return {
        "vertices": len(mesh.vertices),
        "faces": len(mesh.faces),
        "watertight": bool(mesh.is_watertight),
        "volume": round(float(mesh.volume), 6) if mesh.is_watertight else None,
        "bounds": [[round(float(v), 4) for v in corner] for corner in mesh.bounds],
    }


VIEWS = {  # rotation (axis, degrees) that turns the mesh so the camera, looking down -Z, sees that side
    "front": ([0, 1, 0], 0), "side": ([0, 1, 0], -90), "back": ([0, 1, 0], 180), "top": ([1, 0, 0], 90),
}


def render_views(mesh: trimesh.Trimesh, size: int = 64, views: tuple[str, ...] = ("front", "side", "back", "top")) -> Any:
    """A turntable sheet: the mesh from each of ``views``, 2 x 2, each ``size`` px (see render_preview)."""
    if len(mesh.faces) > PREVIEW_FACES:
        mesh = _keep_uvs(mesh.simplify_quadric_decimation(face_count=PREVIEW_FACES), mesh)
    return grid([render_preview(mesh, size, view) for view in views])


def render_preview(mesh: trimesh.Trimesh, size: int = 96, view: str = "front") -> Any:
    """An orthographic view with Lambert shading and the mesh's colours where it has them,
    rasterised with PIL (no GPU or display); meshes above ``PREVIEW_FACES`` are decimated first, so
    a preview stays a few milliseconds."""
    from PIL import Image, ImageDraw

    if len(mesh.faces) > PREVIEW_FACES:
        mesh = _keep_uvs(mesh.simplify_quadric_decimation(face_count=PREVIEW_FACES), mesh)
    axis, degrees = VIEWS[view]
    if degrees:
        mesh = mesh.copy()
        mesh.apply_transform(trimesh.transformations.rotation_matrix(np.radians(degrees), axis))

    vertices = mesh.vertices
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    scale = (size - 8) / max(float((high - low)[:2].max()), 1e-9)
    xy = (vertices[:, :2] - low[:2]) * scale + 4
    xy[:, 1] = size - xy[:, 1]  # image rows grow downwards, +Y is up
    light = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    faces, normals = mesh.faces, mesh.face_normals  # read once: each read of a trimesh property hashes the arrays
    tone = 0.25 + 0.75 * np.clip(normals @ light, 0.0, 1.0)
    fills = (_face_colours(mesh) * tone[:, None]).astype(int)
    order = np.argsort(vertices[faces][:, :, 2].mean(axis=1))  # back to front along +Z
    order = order[normals[order, 2] > 0]  # faces turned away from the camera are not drawn
    image = Image.new("RGB", (size, size), (40, 40, 48))
    draw = ImageDraw.Draw(image)
    for polygon, fill in zip(xy[faces[order]].tolist(), fills[order].tolist(), strict=True):
        draw.polygon([tuple(point) for point in polygon], fill=tuple(fill))
    return image


def _face_colours(mesh: trimesh.Trimesh) -> np.ndarray:
    """RGB per face: sampled from the texture at the face's UVs, or the vertex colours, else light grey."""
    if mesh.visual.kind == "texture" and getattr(mesh.visual, "uv", None) is not None:
        vertex_colours = np.asarray(mesh.visual.to_color().vertex_colors)[:, :3].astype(float)
        return vertex_colours[mesh.faces].mean(axis=1)
    if mesh.visual.kind in ("vertex", "face"):
        return np.asarray(mesh.visual.face_colors)[:, :3].astype(float)
    return np.full((len(mesh.faces), 3), 230.0)


@dataclass(frozen=True)
class MeshRequest:
    """One text-to-mesh generation; every field that changes the geometry is here."""

    prompt: str
    seed: int
    steps: int
    guidance: float
    grid_size: int
    target_size: float = 1.0  # applied after generation (to_game_space)
    texture_size: int = 512  # the baked base-colour texture


def text_to_meshes(pipe: Any, requests: list[MeshRequest], batch_size: int) -> list[trimesh.Trimesh]:
    """Shap-E: latents in pipeline batches (one seeded CPU generator per item), then each latent
    decoded by marching cubes on the item's grid, with vertex colours from the renderer."""
    return _shap_e_meshes(pipe, requests, "prompt", [r.prompt for r in requests], batch_size)


def image_to_meshes(pipe: Any, requests: list[Any], images: list[Any], batch_size: int) -> list[trimesh.Trimesh]:
    """Shap-E img2img: the same, conditioned on one image per request (PIL, RGB) instead of a prompt."""
    return _shap_e_meshes(pipe, requests, "image", images, batch_size)


def _shap_e_meshes(pipe: Any, requests: list[Any], condition: str, conditions: list[Any],
                   batch_size: int) -> list[trimesh.Trimesh]:
    """Either Shap-E pipeline: ``conditions[i]`` (a prompt or an image) is passed as ``condition``
    for ``requests[i]``."""
    import torch

    meshes: list[trimesh.Trimesh] = []
    for start in range(0, len(requests), batch_size):
        chunk = requests[start:start + batch_size]
        first = chunk[0]
        with torch.inference_mode():
            latents = pipe(
                **{condition: conditions[start:start + batch_size]},
                num_inference_steps=first.steps, guidance_scale=first.guidance,
                generator=[torch.Generator("cpu").manual_seed(r.seed) for r in chunk], output_type="latent",
            ).images
            for request, latent in zip(chunk, latents):
                decoded = _decode(pipe, latent, request.grid_size)
                if decoded is None:
                    meshes.append(trimesh.Trimesh())  # the write refuses it (enough_geometry)
                    continue
                colours = torch.stack([decoded.vertex_channels[c] for c in "RGB"], dim=1).float().cpu().numpy()
                meshes.append(trimesh.Trimesh(
                    decoded.verts.float().cpu().numpy(), decoded.faces.cpu().numpy(),
                    vertex_colors=np.clip(colours * 255, 0, 255).astype(np.uint8), process=False,
                ))
    return meshes


def _decode(pipe: Any, latent: Any, grid_size: int) -> Any:
    """Marching cubes on one latent's field, or None when the field has no surface on this grid
    (diffusers' decoder then fails colouring an empty vertex list)."""
    try:
        return pipe.shap_e_renderer.decode_to_mesh(latent[None], latent.device, grid_size=grid_size)
    except ValueError as exc:
        if "non-empty list" in str(exc):
            return None
        raise


def relief_mesh(image: Any, depth: np.ndarray, resolution: int = 64, relief: float = 0.25,
                base: float = 0.05) -> trimesh.Trimesh:
    """A closed relief from a depth map (near = high): a heightfield of ``resolution`` vertices a side,
    UV-mapped with ``image`` as its texture, on a flat back ``base`` thick, with side walls, so it is
    watertight and has a real collision hull even where the depth is flat. The image lies in x/y,
    width 1, and the relief rises along +z."""
    from PIL import Image

    depth = np.asarray(Image.fromarray(depth.astype(np.float32)).resize((resolution, resolution), Image.Resampling.BILINEAR))
    span = float(depth.max() - depth.min())
    height = (depth - depth.min()) / span if span > 1e-8 else np.zeros_like(depth)
    v, u = np.mgrid[0:resolution, 0:resolution] / (resolution - 1)
    aspect = image.height / image.width
    x, y = u.ravel(), (1.0 - v.ravel()) * aspect
    top = np.column_stack([x, y, height.ravel() * relief])
    bottom = np.column_stack([x, y, np.full(x.shape, -base)])
    count = resolution * resolution
    index = np.arange(count).reshape(resolution, resolution)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    surface = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    ring = np.concatenate([index[0, :-1], index[:-1, -1], index[-1, :0:-1], index[:0:-1, 0]])
    following = np.roll(ring, -1)
    walls = np.concatenate([np.stack([ring, following, following + count], -1),
                            np.stack([ring, following + count, ring + count], -1)])
    faces = np.concatenate([surface, surface[:, ::-1] + count, walls])
    uv = np.tile(np.column_stack([u.ravel(), 1.0 - v.ravel()]), (2, 1))
    visual = trimesh.visual.TextureVisuals(uv=uv, material=pbr_material(image.convert("RGB")))
    mesh = trimesh.Trimesh(np.vstack([top, bottom]), faces, visual=visual, process=False)
    trimesh.repair.fix_normals(mesh)
    return mesh
