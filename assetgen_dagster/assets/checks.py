"""Turn checks.py outcomes into Dagster asset check results (specs are declared on each asset)."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from assetgen_dagster.checks import CheckOutcome


def spec(asset: str, name: str, description: str, blocking: bool = False) -> AssetCheckSpec:
    return AssetCheckSpec(name=name, asset=asset, description=description, blocking=blocking)


def result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
    metadata = {key: MetadataValue.json(value) if isinstance(value, (dict, list)) else value
                for key, value in outcome.metadata.items()}
    if outcome.failures:
        metadata["failures"] = MetadataValue.json(outcome.failures)
    return AssetCheckResult(check_name=name, passed=outcome.passed, severity=AssetCheckSeverity.ERROR,
                            description=outcome.description, metadata=metadata)


def skipped(name: str) -> AssetCheckResult:
    """A batch with no items of the asset's kind passes its checks vacuously."""
    return AssetCheckResult(check_name=name, passed=True, description="no items of this kind", metadata={"items": 0})
