"""Departments that publish their files at a URL (HTTP(S), or any fsspec location such as an
S3-compatible bucket) instead of dropping them: the files are copied into that department's
own drop folder, then ingested like any other file.

Configured in the department registry, as an entry's `sources` (in the file NTM_DEPARTMENTS names,
or in ingest/departments.yaml; the first is merged over the second):

    so-khcn-ha-noi:
      province: Hà Nội
      sources:
        - dataset: digital_infrastructure
          url: https://data.example.gov.vn/ha-tang-so/2024.csv
        - dataset: ocop_products
          url: s3://so-nnmt-ha-noi/ocop/2024.xlsx
          options: {endpoint_url: https://s3.example.gov.vn}   # fsspec storage options

Credentials never go in this file: S3 keys come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY), as s3fs reads them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ntm_core.departments import departments
from ntm_core.log import log
from ntm_core.settings import source_timeout

# A fetched file is complete: it is dated this many seconds back so the settle wait lets it through.
FETCHED_AGE = 3600


@dataclass
class Fetched:
    department: str
    dataset: str
    url: str
    file: Path | None
    error: str | None = None


def _file_name(url: str) -> str:
    name = re.sub(r"[^\w.\-]+", "_", url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]).lstrip("._")
    return name or "download.csv"


def _storage_options(url: str, options: dict) -> dict:
    """fsspec options for a source: HTTP gets a timeout; S3 takes its endpoint from `endpoint_url`."""
    timeout = source_timeout()
    if url.startswith(("http://", "https://")):
        return {"timeout": timeout, **options}
    if url.startswith("s3://"):
        options = dict(options)
        client_kwargs = dict(options.pop("client_kwargs", {}))
        if "endpoint_url" in options:
            client_kwargs["endpoint_url"] = options.pop("endpoint_url")
        return {"client_kwargs": client_kwargs, "config_kwargs": {"connect_timeout": timeout}, **options}
    return options


def fetch_sources(dropzone: Path, only: list[str] | None = None) -> list[Fetched]:
    """Copy each configured source into <dropzone>/<department>/<dataset>/, atomically (a hidden
    `.part` file renamed when complete, so ingest never sees half a file). A source that fails is
    reported and skipped; the other departments go on."""
    import fsspec

    fetched = []
    for department, config in departments().items():
        if only and department not in only:
            continue
        for source in (config or {}).get("sources", []) or []:
            url, dataset = source["url"], source["dataset"]
            target = dropzone / department / dataset / _file_name(url)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                part = target.parent / f".{target.name}.part"
                with (
                    fsspec.open(url, "rb", **_storage_options(url, source.get("options") or {})) as src,
                    open(part, "wb") as dst,
                ):
                    shutil.copyfileobj(src, dst, length=1024 * 1024)
                if target.exists() and target.read_bytes() == part.read_bytes():
                    part.unlink()  # unchanged: keep the old file (and its age) as it is
                else:
                    part.rename(target)
                    old = target.stat().st_mtime - FETCHED_AGE  # complete: no need to wait for it to settle
                    os.utime(target, (old, old))
                fetched.append(Fetched(department, dataset, url, target))
                log(f"sources: {department}/{dataset}: {url} -> {target.name}")
            except Exception as err:  # a department's server being down must not stop the others
                fetched.append(Fetched(department, dataset, url, None, f"{type(err).__name__}: {err}"))
                log(f"sources: {department}/{dataset}: {url} FAILED ({type(err).__name__}: {err})")
    return fetched
