"""Thin Dagster asset definitions: read the partition's batch, call generate/, write outputs."""

import warnings

from dagster import BetaWarning

# Single-run backfills are what make a backfill load each model once; the API is marked beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)

from assetgen_dagster.assets.concept_art import concept_art
from assetgen_dagster.assets.meshes import collision_meshes, mesh_lods, meshes
from assetgen_dagster.assets.pack import asset_pack
from assetgen_dagster.assets.sprites import icons, sprites
from assetgen_dagster.assets.textures import pbr_maps, textures

ALL_ASSETS = [concept_art, sprites, icons, textures, pbr_maps, meshes, mesh_lods, collision_meshes, asset_pack]

# Item kinds that have an asset today; the sensor reports items of other kinds instead of dropping them.
GENERATED_KINDS = frozenset({"concept_art", "sprite", "icon", "texture", "mesh"})
