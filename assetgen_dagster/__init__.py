"""assetgen-dagster: game assets from prompt batches with open models, orchestrated by Dagster."""

__version__ = "0.1.0"
