"""``valid_batch_files``: the asset check on ``prompt_batch_files`` that makes an invalid batch file a
red, named thing on the asset graph.

It fails while any file in the prompts folder is invalid (its description names each file with the
item and field, or the line and column of a YAML error) and passes again once every file is fixed
or gone. The sensor evaluates it whenever the set of invalid files changes, so the signal appears
and clears within a tick; executing the check from the UI validates every file at that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from assetgen_dagster.batches import BatchError, BatchSchema, scan_batch_files
from assetgen_dagster.partitions import prompt_batch_files
from assetgen_dagster.registry import Registry
from assetgen_dagster.settings import ProjectSettings

CHECK = "valid_batch_files"
MAX_ERROR_CHARS = 2000  # per file, in the description and the sensor's cursor


def verdict(invalid: Mapping[str, str]) -> dict[str, Any]:
    """The check's result for the invalid files (file name -> error): passed, description, metadata."""
    if not invalid:
        return {"passed": True, "description": "every batch file is valid", "metadata": {"invalid_files": 0}}
    lines = "\n".join(f"- {error[:MAX_ERROR_CHARS]}" for _, error in sorted(invalid.items()))
    return {
        "passed": False,
        "description": f"{len(invalid)} invalid batch file(s), not run until fixed:\n{lines}",
        "metadata": {"invalid_files": len(invalid),
                     "errors": MetadataValue.json({name: error[:MAX_ERROR_CHARS] for name, error in sorted(invalid.items())})},
    }


def evaluation(invalid: Mapping[str, str]) -> AssetCheckEvaluation:
    """The check's evaluation as the sensor reports it."""
    return AssetCheckEvaluation(asset_key=prompt_batch_files.key, check_name=CHECK,
                                severity=AssetCheckSeverity.ERROR, **verdict(invalid))


def invalid_files(folder: Path, schema: BatchSchema) -> dict[str, str]:
    """Every batch file in ``folder`` that does not load, with its error."""
    invalid = {}
    for path in scan_batch_files(folder):
        try:
            schema.load(path)
        except BatchError as exc:
            invalid[path.name] = str(exc)
        except OSError as exc:
            invalid[path.name] = f"{path}: unreadable: {exc}"
    return invalid


def batch_files_check(registry: Registry) -> AssetChecksDefinition:
    """``valid_batch_files`` for the batch schema of ``registry``'s kinds."""

    @asset_check(asset=prompt_batch_files.key, name=CHECK,
                 description="Every batch file in the prompts folder loads: an invalid one is named here with "
                             "its item and field (or line and column) and gets no run until it is fixed.")
    def valid_batch_files(project: ProjectSettings) -> AssetCheckResult:
        return AssetCheckResult(severity=AssetCheckSeverity.ERROR,
                                **verdict(invalid_files(project.prompts(), registry.schema)))

    return valid_batch_files
