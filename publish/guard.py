"""The last line of defence before the portal: a column that is personal data is never published,
whatever validation said. Personal columns are those a dataset contract flags `personal: true`
and those named like personal data in expectations/personal_data.yaml."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from expectations.suite import personal_data_columns
from ingest.contract import all_contracts


class PersonalDataRefused(RuntimeError):
    """The mart holds personal columns; the message names them, in Vietnamese and English."""


def personal_columns(columns: list[str]) -> list[str]:
    flagged = {c.name for contract in all_contracts().values() for c in contract.columns if c.personal}
    return sorted(set(personal_data_columns(columns)) | (set(columns) & flagged))


def refuse_personal_columns(mart: str, parquet: Path) -> None:
    found = personal_columns(pq.read_schema(parquet).names)
    if found:
        names = ", ".join(found)
        raise PersonalDataRefused(
            f"{mart}: không công bố vì có cột dữ liệu cá nhân ({names}); hãy bỏ các cột này khỏi mart / "
            f"not published: columns {names} hold personal data; remove them from the mart")
