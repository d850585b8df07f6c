"""The run queue of the project's instances: Dagster's queued run coordinator, dequeuing twice a
second instead of at most once a second (its interval is whole seconds).

A run launched from the UI, the watcher or the review page waits in the queue until the daemon's next
pass; at one pass a second that wait was ~0.5 s on average and up to a whole second of a pick's
click-to-page time. A pass is a couple of queries: twice a second costs the daemon nothing noticeable.
The daemon waits in half-second steps between passes, so 0.5 s is the shortest interval that is not
a busy loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator

DEQUEUE_SECONDS = 0.5


class QuickQueuedRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` with ``dequeue_seconds`` (a float, default 0.5) as its dequeue interval."""

    def __init__(self, dequeue_seconds: float = DEQUEUE_SECONDS, **kwargs: Any):
        super().__init__(**kwargs)
        self._dequeue_seconds = float(dequeue_seconds)

    @property
    def dequeue_interval_seconds(self) -> float:  # the daemon sleeps this long between passes
        return self._dequeue_seconds

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        fields = {name: field for name, field in super().config_type().items() if name != "dequeue_interval_seconds"}
        return {**fields, "dequeue_seconds": Field(float, is_required=False, default_value=DEQUEUE_SECONDS,
                                                   description="Seconds between the daemon's dequeue passes (>= 0.5).")}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> QuickQueuedRunCoordinator:
        seconds = config_value.get("dequeue_seconds", DEQUEUE_SECONDS)
        if seconds < DEQUEUE_SECONDS:
            raise ValueError(f"run_coordinator dequeue_seconds: {seconds} is below {DEQUEUE_SECONDS} (the daemon "
                             "waits in half-second steps; less would only spin)")
        coordinator = super().from_config_value(inst_data, {k: v for k, v in config_value.items() if k != "dequeue_seconds"})
        coordinator._dequeue_seconds = float(seconds)
        return coordinator
