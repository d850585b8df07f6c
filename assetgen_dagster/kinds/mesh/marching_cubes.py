"""A marching-cubes lookup table in the layout of diffusers' Shap-E ``MeshDecoder`` buffers.

A Shap-E checkpoint ships this table in its renderer's ``cases`` (256x5x3) and ``masks`` (256x5)
buffers; a random-weight tiny model has zeros there and never emits a triangle. This builds the
table from first principles, so the tiny kit can fill it:

- corner ``c`` of a cube sits at ``(c & 1, c >> 1 & 1, c >> 2 & 1)`` and its bit in the case index
  is set when the field is positive (inside);
- the 12 edges are numbered as ``diffusers.pipelines.shap_e.renderer._create_flat_edge_indices``
  orders them: x-edges (y, z) = 00, 10, 01, 11, then y-edges (x, z), then z-edges (x, y);
- on each cube face the crossing edges are joined into segments; an ambiguous face (diagonal
  corners inside) always separates its inside corners, a rule both cubes sharing the face apply
  alike, so the surface has no cracks; the segments close into loops, each fanned into triangles
  wound so their normals point from inside to outside.
"""

from __future__ import annotations

import numpy as np

EDGES = (
    (0, 1), (2, 3), (4, 5), (6, 7),  # along x
    (0, 2), (1, 3), (4, 6), (5, 7),  # along y
    (0, 4), (1, 5), (2, 6), (3, 7),  # along z
)
MAX_TRIANGLES = 5


def corner_position(corner: int) -> np.ndarray:
    return np.array([corner & 1, corner >> 1 & 1, corner >> 2 & 1], dtype=np.float64)


def _edge_index(a: int, b: int) -> int:
    return EDGES.index((min(a, b), max(a, b)))


def _faces() -> list[list[int]]:
    """The six faces, each as four corners in cyclic order."""
    faces = []
    for axis in range(3):
        u, w = [a for a in range(3) if a != axis]
        for value in (0, 1):
            cycle = []
            for du, dw in ((0, 0), (1, 0), (1, 1), (0, 1)):
                bits = {axis: value, u: du, w: dw}
                cycle.append(bits[0] | bits[1] << 1 | bits[2] << 2)
            faces.append(cycle)
    return faces


def _segments(case: int) -> list[tuple[int, int]]:
    inside = [bool(case >> c & 1) for c in range(8)]
    segments = []
    for q in _faces():
        crossing = [_edge_index(q[i], q[(i + 1) % 4]) for i in range(4) if inside[q[i]] != inside[q[(i + 1) % 4]]]
        if len(crossing) == 2:
            segments.append((crossing[0], crossing[1]))
        elif len(crossing) == 4:  # ambiguous face: cut off each inside corner on its own
            start = 0 if inside[q[0]] else 1
            for corner in (start, start + 2):
                before, after = q[(corner - 1) % 4], q[(corner + 1) % 4]
                segments.append((_edge_index(before, q[corner]), _edge_index(q[corner], after)))
    return segments


def _loops(segments: list[tuple[int, int]]) -> list[list[int]]:
    neighbours: dict[int, list[int]] = {}
    for a, b in segments:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            a, b = neighbours[current]
            following = b if a == previous else a
            if following == start:
                break
            loop.append(following)
            seen.add(following)
            previous, current = current, following
        loops.append(loop)
    return loops


def _oriented(loop: list[int], case: int) -> list[int]:
    """The loop wound so that its normal points from the inside corners to the outside ones."""
    points = [(corner_position(EDGES[e][0]) + corner_position(EDGES[e][1])) / 2 for e in loop]
    normal = np.zeros(3)
    for i, p in enumerate(points):  # Newell's method
        q = points[(i + 1) % len(points)]
        normal += np.cross(p, q)
    outward = np.zeros(3)
    for e in loop:
        a, b = EDGES[e]
        inside, outside = (a, b) if case >> a & 1 else (b, a)
        outward += corner_position(outside) - corner_position(inside)
    return loop if normal @ outward > 0 else loop[::-1]


def marching_cubes_table() -> tuple[np.ndarray, np.ndarray]:
    """``cases`` (256, 5, 3) int64 edge indices and ``masks`` (256, 5) bool, as MeshDecoder wants."""
    cases = np.zeros((256, MAX_TRIANGLES, 3), dtype=np.int64)
    masks = np.zeros((256, MAX_TRIANGLES), dtype=bool)
    for case in range(256):
        triangles = []
        for loop in _loops(_segments(case)):
            loop = _oriented(loop, case)
            triangles += [(loop[0], loop[i], loop[i + 1]) for i in range(1, len(loop) - 1)]
        if len(triangles) > MAX_TRIANGLES:
            raise AssertionError(f"case {case} needs {len(triangles)} triangles")
        if triangles:
            cases[case, : len(triangles)] = triangles
            masks[case, : len(triangles)] = True
    return cases, masks
