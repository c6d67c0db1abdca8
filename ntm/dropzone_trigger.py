"""The drop-zone watcher as an Airflow 3 event trigger (run by the triggerer, behind the DAG's
`AssetWatcher`). Kept apart from `ntm.watch`, which does the listing: importing Airflow configures it
(its home, its database), which only the DAGs and the triggerer should do."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from ntm.watch import Key, Stat, dropzone_paths, new_files


class DropZoneTrigger(BaseEventTrigger):
    """Polls the whole drop zone (one listing, every `poll_seconds`) and fires an event naming the
    departments that have a new file stable for `settle_seconds` (ingest's SETTLE_SECONDS when not
    given). A file is announced once; still not looked at after `reannounce_seconds`, it is
    announced again: Airflow drops an asset event for a paused DAG (it queues none), so a file
    written while `ntm_ingest` was paused lands within that time of unpausing, not on the next
    hourly poll. The cost of a shorter time: a file whose ingest takes longer than it is announced
    once more, folded into the next run, which finds nothing new in milliseconds."""

    def __init__(
        self,
        poll_seconds: float = 1.0,
        settle_seconds: float | None = None,
        reannounce_seconds: float = 30.0,
        dropzone: str | None = None,
        data_dir: str | None = None,
    ):
        super().__init__()
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.reannounce_seconds = reannounce_seconds
        self.dropzone = dropzone
        self.data_dir = data_dir

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "poll_seconds": self.poll_seconds,
                "settle_seconds": self.settle_seconds,
                "reannounce_seconds": self.reannounce_seconds,
                "dropzone": self.dropzone,
                "data_dir": self.data_dir,
            },
        )

    async def run(self):
        from ingest.landing import SETTLE_SECONDS

        settle = SETTLE_SECONDS if self.settle_seconds is None else self.settle_seconds
        dropzone, data_dir = await asyncio.to_thread(dropzone_paths, self.dropzone, self.data_dir)
        announced: dict[Key, tuple[Stat, float]] = {}
        while True:
            try:
                waiting = await asyncio.to_thread(new_files, dropzone, data_dir, settle)
            except Exception as err:  # noqa: BLE001 - a listing that failed is tried again
                self.log.warning("drop zone %s not listed: %s", dropzone, err)
                waiting = {}
            now = time.monotonic()
            fresh = sorted(
                k
                for k, stat in waiting.items()
                if k not in announced or announced[k][0] != stat or now - announced[k][1] >= self.reannounce_seconds
            )
            announced = {k: (stat, now if k in fresh else announced[k][1]) for k, stat in waiting.items()}
            if fresh:
                yield TriggerEvent(
                    {"departments": sorted({k[0] for k in fresh}), "files": ["/".join(k) for k in fresh[:100]]}
                )
            await asyncio.sleep(self.poll_seconds)
