"""Thin Dagster asset definitions: read the partition's batch, call generate/, write outputs."""

from assetgen_dagster.assets.concept_art import concept_art

ALL_ASSETS = [concept_art]

# Item kinds that have an asset today; the sensor reports items of other kinds instead of dropping them.
GENERATED_KINDS = frozenset({"concept_art"})
