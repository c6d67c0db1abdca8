"""The drop-zone watcher as an Airflow 3 event trigger (run by the triggerer, behind the DAG's
`AssetWatcher`). Kept apart from `ntm.watch`, which does the listing: importing Airflow configures it
(its home, its database), which only the DAGs and the triggerer should do."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from ntm.watch import Key, Stat, dropzone_paths, to_announce


class DropZoneTrigger(BaseEventTrigger):
    """Polls the whole drop zone (one listing, every `poll_seconds`) and fires an event naming the
    departments that have a new file stable for `settle_seconds` (ingest's SETTLE_SECONDS when not
    given) that no run has claimed (`ntm.watch.to_announce`). A file is announced once. Airflow drops
    an asset event for a paused DAG (it queues none), so a file still neither read nor claimed
    `reannounce_seconds` after its announcement is announced again, but only while no run of `dag_id`
    is queued or running (asked through the triggerer, as Airflow's own DAG-state triggers do): an
    event that came during a run waits in Airflow's queue for the next run, and one more would start
    a run after it that finds nothing. So a file written while `ntm_ingest` was paused lands within
    that time of unpausing, not on the next hourly poll."""

    def __init__(
        self,
        poll_seconds: float = 1.0,
        settle_seconds: float | None = None,
        reannounce_seconds: float = 30.0,
        dropzone: str | None = None,
        data_dir: str | None = None,
        dag_id: str | None = None,
    ):
        super().__init__()
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.reannounce_seconds = reannounce_seconds
        self.dropzone = dropzone
        self.data_dir = data_dir
        self.dag_id = dag_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "poll_seconds": self.poll_seconds,
                "settle_seconds": self.settle_seconds,
                "reannounce_seconds": self.reannounce_seconds,
                "dropzone": self.dropzone,
                "data_dir": self.data_dir,
                "dag_id": self.dag_id,
            },
        )

    async def _runs_active(self) -> bool | None:
        """Whether a run of `dag_id` is queued or running; None when nobody can say (no `dag_id`, or
        the trigger runs outside a triggerer)."""
        if not self.dag_id:
            return None
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async

            count = await sync_to_async(RuntimeTaskInstance.get_dr_count)(
                dag_id=self.dag_id, states=["queued", "running"]
            )
        except Exception:  # noqa: BLE001 - no supervisor to ask: the timer alone decides
            return None
        return count > 0

    async def run(self):
        from ingest.landing import SETTLE_SECONDS

        settle = SETTLE_SECONDS if self.settle_seconds is None else self.settle_seconds
        dropzone, data_dir = await asyncio.to_thread(dropzone_paths, self.dropzone, self.data_dir)
        announced: dict[Key, tuple[Stat, float]] = {}
        while True:
            try:
                waiting = await asyncio.to_thread(to_announce, dropzone, data_dir, settle)
            except Exception as err:  # noqa: BLE001 - a listing that failed is tried again
                self.log.warning("drop zone %s not listed: %s", dropzone, err)
                waiting = None
            if waiting is not None:  # None: a run is fetching and claiming, look again in a moment
                now = time.monotonic()
                first = [k for k, stat in waiting.items() if k not in announced or announced[k][0] != stat]
                due = [k for k in waiting if k not in first and now - announced[k][1] >= self.reannounce_seconds]
                if due and await self._runs_active():
                    due = []  # its event waits for the run going on; the next run reads the file
                fresh = sorted(first + due)
                announced = {k: (stat, now if k in fresh else announced[k][1]) for k, stat in waiting.items()}
                if fresh:
                    yield TriggerEvent(
                        {"departments": sorted({k[0] for k in fresh}), "files": ["/".join(k) for k in fresh[:100]]}
                    )
            await asyncio.sleep(self.poll_seconds)
