"""The last line of defence before the portal: a column that is personal data is never published,
whatever validation said. Which columns are personal data is `ntm_core.personal`'s rule."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ntm_core.personal import personal_columns


class PersonalDataRefused(RuntimeError):
    """The mart holds personal columns; the message names them, in Vietnamese and English."""


def refuse_personal_columns(mart: str, parquet: Path) -> None:
    found = personal_columns(pq.read_schema(parquet).names)
    if found:
        names = ", ".join(found)
        raise PersonalDataRefused(
            f"{mart}: không công bố vì có cột dữ liệu cá nhân ({names}); hãy bỏ các cột này khỏi mart / "
            f"not published: columns {names} hold personal data; remove them from the mart"
        )
