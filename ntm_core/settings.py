"""Every setting of the pipeline: its environment variable, default and meaning, in one place.

Stages ask this module, never `os.environ`. The README's settings table is generated from SETTINGS
(`tests/test_layout.py` checks that it agrees)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The dbt project, read by several stages: its mart YAMLs (contracts, tests, descriptions) and seeds.
DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT_MARTS = DBT_PROJECT / "models" / "marts"
DBT_SEEDS = DBT_PROJECT / "seeds"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # as the README shows it; None: no default
    meaning: str

    def raw(self) -> str | None:
        return os.environ.get(self.name) or self.default


SETTINGS = {
    s.name: s
    for s in (
        Setting(
            "NTM_DATA_DIR",
            "./data",
            "raw files, bronze Parquet, ledger, DuckDB warehouse, the records lake, marts, "
            "dbt docs, validation results, alerts, scratch (`tmp/`)",
        ),
        Setting("NTM_DROPZONE", "./samples/dropzone", "the drop zone when `--dropzone` is not given"),
        Setting("NTM_CKAN_URL", None, "publish to another CKAN (with `NTM_CKAN_TOKEN`); default: the local portal"),
        Setting(
            "NTM_CKAN_TOKEN",
            None,
            "the API token for `NTM_CKAN_URL`; default: the local portal's (`<portal home>/api_token`)",
        ),
        Setting("NTM_PORTAL_HOME", "./.portal", "where the local portal is installed and keeps its state"),
        Setting("NTM_PORTAL_PORT", "5000", "the local portal's port (loopback only)"),
        Setting("NTM_PORTAL_PG_PORT", "54329", "the local portal's PostgreSQL port (loopback only)"),
        Setting("NTM_PORTAL_REDIS_PORT", "63799", "the local portal's Redis port (loopback only)"),
        Setting(
            "NTM_PORTAL_SERVER",
            "gunicorn",
            "how the local portal serves CKAN: `gunicorn` (compression, caching, security headers), or `dev` "
            "for CKAN's development server without them (debugging; the Lighthouse baseline)",
        ),
        Setting("NTM_PG_BIN", "/usr/lib/postgresql/15/bin", "where PostgreSQL's programs are (the local portal)"),
        Setting(
            "NTM_DEPARTMENTS",
            None,
            "a department registry file (outside the repository) merged over the built-in one, "
            "`ingest/departments.yaml` (department kinds × today's 34 provinces, and the national office): "
            "its departments and kinds are added, its fields (`province`, `title`, `sources`: URLs to fetch "
            "from, …) override those of the same department; `ntm departments add` writes to it",
        ),
        Setting("NTM_SOURCE_TIMEOUT", "60", "seconds to wait for a department's URL or bucket"),
        Setting("NTM_SUBMISSION_MAX_MB", "100", "the largest file a department may submit on the portal (MB)"),
        Setting(
            "NTM_AIRFLOW_URL",
            "",
            "Airflow's API server, which the local portal tells when it accepts a submission (read by "
            "`ntm portal up`); empty: the next poll fetches the submission",
        ),
        Setting("NTM_AIRFLOW_USERNAME", None, "the portal's Airflow account (environment only, never logged)"),
        Setting("NTM_AIRFLOW_PASSWORD", None, "its password (environment only, never logged)"),
        Setting("NTM_AIRFLOW_TOKEN", None, "or a ready Airflow API token instead (environment only, never logged)"),
        Setting(
            "NTM_BULK_THRESHOLD_MB",
            "0.25",
            "CSV files at least this large are ingested by DuckDB in bounded memory; smaller ones row by row, "
            "which costs less per file and more per row (`benchmarks/RESULTS_bulk_threshold.md`)",
        ),
        Setting(
            "NTM_BULK_WORKBOOK_MB",
            "2",
            "Excel workbooks (`.xlsx`, `.xlsm`) at least this large, with one visible sheet, are streamed into "
            "a CSV and ingested by DuckDB in bounded memory",
        ),
        Setting(
            "NTM_CACHE_DIR",
            "~/.cache/ntm-lakehouse",
            "what a process derives once and the next reads back: the unit resolver's index, keyed by "
            "the unit lists and the resolver's code (rebuilt when they change; safe to delete)",
        ),
        Setting(
            "NTM_DUCKDB_MEMORY",
            "512MB",
            "DuckDB's memory limit for large files and for validation (it spills to disk beyond it)",
        ),
        Setting(
            "NTM_DBT_MEMORY",
            "1GB",
            "DuckDB's memory limit for `dbt build` (it spills into `<data dir>/warehouse.duckdb.tmp/` beyond it)",
        ),
        Setting(
            "NTM_DATASTORE_DB_URL",
            None,
            "the DataStore database's write URL (PostgreSQL), to load new or rebuilt tables by `COPY`; "
            "default: the local portal's when publishing to it; without one, tables load through the API",
        ),
        Setting(
            "NTM_DATASTORE_UPSERT_MAX",
            "20000",
            "changed rows up to which a published table is upserted through the API; more, and it is reloaded",
        ),
        Setting("NTM_PUBLISH_CHUNK", "5000", "rows per DataStore upsert request"),
        Setting(
            "NTM_DATASET_PREFIX",
            None,
            "prefix of every dataset name on the portal, to keep test or staging datasets apart",
        ),
        Setting(
            "NTM_SPARK_MASTER",
            "local[2]",
            "the Spark master of `ntm transform --engine spark` (dbt-spark in session mode; Java 17)",
        ),
        Setting("NTM_SPARK_MEMORY", "2g", "the Spark driver's memory for `ntm transform --engine spark`"),
        Setting(
            "NTM_ICEBERG_CATALOG_URI",
            None,
            "the SQL catalog of the lake's Iceberg tables, a SQLAlchemy URL (e.g. `postgresql+psycopg://…`); "
            "default: SQLite in `<data dir>/iceberg/catalog.db`",
        ),
        Setting(
            "NTM_ICEBERG_WAREHOUSE",
            None,
            "where the Iceberg tables' files go (a folder or URL); default: `<data dir>/iceberg/warehouse`",
        ),
    )
}


def portal_server() -> str:
    return SETTINGS["NTM_PORTAL_SERVER"].raw() or "gunicorn"


def airflow_url() -> str:
    return SETTINGS["NTM_AIRFLOW_URL"].raw() or ""


def _path(name: str) -> Path:
    """A path setting: as given in the environment (relative to the working directory), else its
    default (relative to the repository)."""
    given = os.environ.get(name)
    return Path(given).resolve() if given else (REPO_ROOT / SETTINGS[name].default).resolve()


def data_dir(given: Path | str | None = None) -> Path:
    """The data dir a stage works in: the one it was given, else NTM_DATA_DIR."""
    return Path(given).resolve() if given else _path("NTM_DATA_DIR")


def cache_dir() -> Path:
    return Path(SETTINGS["NTM_CACHE_DIR"].raw()).expanduser()


def dropzone_dir(given: Path | str | None = None) -> Path:
    return Path(given).resolve() if given else _path("NTM_DROPZONE")


def departments_file() -> Path | None:
    """The registry file merged over the built-in one (relative to the working directory), if any."""
    given = SETTINGS["NTM_DEPARTMENTS"].raw()
    return Path(given).resolve() if given else None


def portal_home() -> Path:
    return _path("NTM_PORTAL_HOME")


def portal_port() -> int:
    return int(SETTINGS["NTM_PORTAL_PORT"].raw())


def portal_pg_port() -> int:
    return int(SETTINGS["NTM_PORTAL_PG_PORT"].raw())


def portal_redis_port() -> int:
    return int(SETTINGS["NTM_PORTAL_REDIS_PORT"].raw())


def pg_bin() -> Path:
    return Path(SETTINGS["NTM_PG_BIN"].raw())


def source_timeout() -> float:
    return float(SETTINGS["NTM_SOURCE_TIMEOUT"].raw())


def submission_max_mb() -> int:
    return int(SETTINGS["NTM_SUBMISSION_MAX_MB"].raw())


def bulk_threshold_bytes() -> int:
    return int(float(SETTINGS["NTM_BULK_THRESHOLD_MB"].raw()) * 1024 * 1024)


def bulk_workbook_threshold_bytes() -> int:
    return int(float(SETTINGS["NTM_BULK_WORKBOOK_MB"].raw()) * 1024 * 1024)


def duckdb_memory() -> str:
    return SETTINGS["NTM_DUCKDB_MEMORY"].raw()


def publish_chunk() -> int:
    return int(SETTINGS["NTM_PUBLISH_CHUNK"].raw())


def datastore_upsert_max() -> int:
    return int(SETTINGS["NTM_DATASTORE_UPSERT_MAX"].raw())


def datastore_db_url(ckan_url: str) -> str | None:
    """The DataStore database to `COPY` into: NTM_DATASTORE_DB_URL, else, when `ckan_url` is the local
    portal, its `ckan.datastore.write_url`. It holds a password: never log it."""
    if given := SETTINGS["NTM_DATASTORE_DB_URL"].raw():
        return given
    ini = portal_home() / "ckan.ini"
    if ckan_url.rstrip("/") != f"http://127.0.0.1:{portal_port()}" or not ini.exists():
        return None
    for line in ini.read_text(encoding="utf-8").splitlines():
        if line.startswith("ckan.datastore.write_url"):
            return line.split("=", 1)[1].strip()
    return None


def dataset_prefix() -> str:
    return SETTINGS["NTM_DATASET_PREFIX"].raw() or ""


def iceberg_catalog_uri(data_dir_path: Path) -> str:
    """The Iceberg tables' SQL catalog: NTM_ICEBERG_CATALOG_URI, else a SQLite file in the data dir."""
    default = data_dir_path.resolve() / "iceberg" / "catalog.db"
    return SETTINGS["NTM_ICEBERG_CATALOG_URI"].raw() or f"sqlite:///{default}"


def iceberg_warehouse(data_dir_path: Path) -> str:
    """Where the Iceberg tables' files go, as a URL: NTM_ICEBERG_WAREHOUSE (a folder is relative to the
    working directory), else `<data dir>/iceberg/warehouse`."""
    given = SETTINGS["NTM_ICEBERG_WAREHOUSE"].raw()
    if given and "://" in given:
        return given
    return (Path(given).resolve() if given else data_dir_path.resolve() / "iceberg" / "warehouse").as_uri()


def ckan_credentials() -> tuple[str, str]:
    """(url, token) of the CKAN to publish to: NTM_CKAN_URL and NTM_CKAN_TOKEN, else the local portal's
    (its URL from its port, its token from `<portal home>/api_token`, written by `ntm portal up`)."""
    url, token = SETTINGS["NTM_CKAN_URL"].raw(), SETTINGS["NTM_CKAN_TOKEN"].raw()
    if url and token:
        return url.rstrip("/"), token
    token_file = portal_home() / "api_token"
    if not token and not token_file.exists():
        raise LookupError(
            "No CKAN to publish to: set NTM_CKAN_URL and NTM_CKAN_TOKEN, "
            "or start the local portal with `ntm portal up`."
        )
    return (url or f"http://127.0.0.1:{portal_port()}").rstrip("/"), token or token_file.read_text().strip()


def in_airflow_task() -> bool:
    return "AIRFLOW_CTX_DAG_ID" in os.environ  # set by Airflow's task runner


def dbt_environment(data_dir_path: Path) -> dict[str, str]:
    """What dbt's project reads with env_var(): the data dir in its models, the memory limit and
    Spark's master in its profile."""
    return {
        "NTM_DATA_DIR": str(data_dir_path),
        "NTM_DBT_MEMORY": SETTINGS["NTM_DBT_MEMORY"].raw(),
        "NTM_SPARK_MASTER": SETTINGS["NTM_SPARK_MASTER"].raw(),
    }


def export_for_dbt(data_dir_path: Path) -> None:
    os.environ.update(dbt_environment(data_dir_path))


def java_home() -> Path | None:
    """The Java Spark runs on, when JAVA_HOME names one (else `java` on the PATH)."""
    return Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None


def spark_process_env() -> dict[str, str]:
    """The environment of a Spark build's process: the driver's memory is read when its JVM starts,
    which a setting given to the session later cannot change."""
    return {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {SETTINGS['NTM_SPARK_MEMORY'].raw()} pyspark-shell"}


def environment_without(prefix: str) -> dict[str, str]:
    """This process's environment for a child process that gets its own settings under `prefix`
    (a local Airflow's `AIRFLOW_*`): none of this one's leak into it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefix)}


def quiet_great_expectations() -> None:
    """Great Expectations would send usage statistics out of this closed network."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def markdown_table() -> str:
    """The README's table of settings."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS.values():
        rows.append(f"| `{s.name}` | {f'`{s.default}`' if s.default else '(none)'} | {s.meaning} |")
    return "\n".join(rows)
