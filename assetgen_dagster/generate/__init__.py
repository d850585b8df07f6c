"""Pure generation and post-processing per asset family. No Dagster imports here."""
