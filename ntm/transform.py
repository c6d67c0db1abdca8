"""The transform stage: one `dbt build` over the dbt project, marts written as Parquet.

DuckDB allows one writer per database file, so dbt always runs as a single process here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ntm.build_plan import mark_frozen, plan_build, project_fingerprint, record_build
from ntm_core.log import log
from ntm_core.settings import DBT_PROJECT, dbt_environment, export_for_dbt

# Lake folders written by a model's `export_partitions` post-hook: folder -> (model, partition column).
LAKE_TABLES = {"public_service_records": ("intermediate.int_public_service_records__current", "period")}
LAKE_BUILDING = "lake_building"  # where a build writes lake partitions before they are moved into lake/


@dataclass
class TransformResult:
    success: bool
    marts: dict[str, Path] = field(default_factory=dict)  # mart name -> Parquet file
    failures: list[str] = field(default_factory=list)
    docs: Path | None = None  # dbt docs as one HTML file (the portal's data dictionary says the same)
    plan: str = "full"  # full | changed (only what the changed sources feed) | nothing | select


def run_dbt(
    args: list[str], data_dir: Path, target: str = "dbt_target", profile_target: str = "local"
) -> dbt.cli.main.dbtRunnerResult:  # noqa: F821
    """dbt with this project and profile, its files under `<data dir>/<target>`; `profile_target`
    is the profile's output: `local` (DuckDB) or `spark` (ntm.spark_build)."""
    from dbt.cli.main import dbtRunner

    export_for_dbt(data_dir)
    common = [
        "--target",
        profile_target,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(data_dir / target),
        "--log-path",
        str(data_dir / "logs"),
    ]
    dbt_vars = args[args.index("--vars") + 1] if "--vars" in args else None
    key = parse_key(data_dir, common, dbt_vars)
    manifest = parsed_project(key, common, dbt_vars, saved_parse(data_dir, profile_target))
    if args[0] == "build":  # a build that stops before its results leaves none, not the last build's
        (data_dir / target / "run_results.json").unlink(missing_ok=True)
    if args[0] != "build" or manifest is None:
        return dbtRunner(manifest=manifest).invoke([*args, *common])
    # A build writes its run results, and the manifest only when the project it describes changed:
    # dbt would write the manifest (megabytes, 0.7 s) again after every build.
    res = dbtRunner(manifest=manifest).invoke([*args, "--no-write-json", *common])
    write_build_artifacts(res, manifest, key, data_dir / target)
    return res


# dbt's parsed project, kept by a long-lived process (a Celery worker, `ntm watch`, the benchmarks)
# from one build to the next: loading it costs about a second even when partial parsing finds nothing
# changed. Keyed by all the parse reads: the project's files, the environment its env_var() calls
# read, the vars and the profile's target. One entry: a manifest is tens of MB.
_PARSED: dict[tuple, object] = {}


def saved_parse(data_dir: Path, profile_target: str) -> Path | None:
    """Where the last parse is saved for the next process (`ntm run`, an Airflow task): dbt's partial
    parsing takes about 0.8 s to load a project that did not change, this file under 0.2 s. Read only
    when its first line is the digest of the same parse (parse_digest). DuckDB's builds only: a build
    on Spark takes minutes."""
    return data_dir / "dbt_target" / "parsed_manifest.pickle" if profile_target == "local" else None


def parse_key(data_dir: Path, common: list[str], dbt_vars: str | None) -> tuple:
    """What a parse of the project reads: its files, the environment, the vars, the profile's target."""
    return (
        project_fingerprint(),
        tuple(sorted(dbt_environment(data_dir).items())),
        dbt_vars,
        common[common.index("--target") + 1],
    )


def parse_digest(key: tuple) -> str:
    """The parse `key`, with the Python, dbt and adapters that parse: a manifest is theirs."""
    import hashlib
    import sys
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    versions = (sys.version, *(installed(p) for p in ("dbt-core", "dbt-duckdb", "dbt-spark")))
    return hashlib.sha256(repr((versions, key)).encode()).hexdigest()


def parsed_project(key: tuple, common: list[str], dbt_vars: str | None, saved: Path | None = None) -> object | None:
    """dbt's manifest for these options, parsed once per process while they and the project stay the
    same, and read from `saved` (saved_parse) when the last process parsed the same; None when
    the parse fails (the command then parses again and reports why). The parse writes no
    manifest.json: the command that uses it does."""
    if key not in _PARSED:
        digest = parse_digest(key)
        manifest = read_saved_parse(saved, digest) if saved else None
        if manifest is None:
            manifest = _parse(common, dbt_vars)
            if manifest is None:
                return None
            if saved:  # before a build compiles into it
                save_parse(saved, digest, manifest)
        _PARSED.clear()
        _PARSED[key] = manifest
    return _PARSED[key]


def _parse(common: list[str], dbt_vars: str | None) -> object | None:
    from dbt.cli.main import dbtRunner

    res = dbtRunner().invoke(
        ["parse", "--quiet", "--no-write-json", *(["--vars", dbt_vars] if dbt_vars else []), *common]
    )
    return res.result if res.success else None


def read_saved_parse(path: Path, digest: str) -> object | None:
    """The manifest saved in `path` by save_parse, when it is of the parse `digest`; else None."""
    import pickle

    from dbt.contracts.graph.manifest import Manifest

    try:
        with open(path, "rb") as f:
            if f.readline().decode("ascii", "replace").strip() != digest:
                return None
            fields = pickle.load(f)  # written by this pipeline into its own data dir, like the warehouse
        return Manifest(**fields)
    except Exception:  # noqa: BLE001 - none yet, or one this Python or dbt cannot read: dbt parses
        return None


def save_parse(path: Path, digest: str, manifest) -> None:
    """Save a freshly parsed manifest for the next process: its public fields. Its lookups and caches
    are built again when first used; dbt's own pickling (Manifest.__reduce_ex__) passes them by
    position and shifts them past a field it leaves out (dbt 1.11: `fixtures`)."""
    import dataclasses
    import os
    import pickle
    import tempfile

    fields = {f.name: getattr(manifest, f.name) for f in dataclasses.fields(manifest) if not f.name.startswith("_")}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
    with os.fdopen(handle, "wb") as f:
        f.write(digest.encode("ascii") + b"\n")
        pickle.dump(fields, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # a reader sees the last whole file, never half of one


MANIFEST_KEY = "manifest.key"  # beside manifest.json: the parse it was written from


def write_build_artifacts(res, manifest, key: tuple, target: Path) -> None:
    """run_results.json, and manifest.json unless the one in `target` is already of this parse
    (the publisher reads its descriptions and lineage; they change only with the project)."""
    from dbt.parser.manifest import write_manifest

    target.mkdir(parents=True, exist_ok=True)
    if hasattr(res.result, "write"):
        res.result.write(str(target / "run_results.json"))
    digest = parse_digest(key)
    key_file = target / MANIFEST_KEY
    if not (target / "manifest.json").exists() or not key_file.exists() or key_file.read_text() != digest:
        key_file.unlink(missing_ok=True)  # a manifest written half-way is never taken as current
        write_manifest(manifest, str(target))
        key_file.write_text(digest)


def transform(
    data_dir: Path,
    select: str | None = None,
    full_refresh: bool = False,
    docs: bool = True,
    dbt_vars: dict | None = None,
    changed_only: bool = False,
) -> TransformResult:
    """`dbt build`, then `dbt docs generate`; with `full_refresh`, seeds and incremental models
    are rebuilt from scratch; `dbt_vars` are dbt's --vars (e.g. a frozen `as_of` day). With
    `changed_only`, only the models downstream of the sources whose files changed since the last
    build are built (ntm.build_plan), and nothing when nothing changed."""
    plan = None if select else plan_build(data_dir)
    kind = "select" if select else "full"
    if plan and changed_only:
        log(f"transform: {plan.why}")
    unit_tests = True
    if plan and changed_only and not full_refresh and not plan.full:
        if plan.nothing:
            return TransformResult(success=True, plan="nothing")
        # The dbt project is the one the last build ran its unit tests on (they test the models'
        # code on fixed inputs, not the data), so only the data tests run again.
        select, docs, kind, unit_tests = " ".join(plan.select), False, "changed", False
    result = _build(data_dir, select, full_refresh, dbt_vars, unit_tests)
    result.plan = kind
    if result.success:
        move_built_partitions(data_dir)
        prune_lake(data_dir)
        if plan:
            record_build(data_dir, plan.state)
        if dbt_vars and dbt_vars.get("as_of"):
            mark_frozen(data_dir, dbt_vars["as_of"])
    if result.success and docs:
        result.docs = generate_docs(data_dir)
    return result


def _build(
    data_dir: Path, select: str | None, full_refresh: bool, dbt_vars: dict | None, unit_tests: bool = True
) -> TransformResult:
    import json

    options = [
        *(["--select", *select.split()] if select else []),
        *(["--full-refresh"] if full_refresh else []),
        *([] if unit_tests else ["--exclude-resource-type", "unit_test"]),
    ]
    log(f"transform: dbt build {' '.join(options)}".rstrip())
    shutil.rmtree(data_dir / LAKE_BUILDING, ignore_errors=True)  # left by a build that was stopped
    for folder in ("marts", "lake", LAKE_BUILDING):  # where the post-hooks write Parquet
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    res = run_dbt(
        [
            "build",
            "--quiet",
            *options,
            *(["--vars", json.dumps(dbt_vars)] if dbt_vars else []),
        ],
        data_dir,
    )
    result = TransformResult(success=bool(res.success))
    for node_result in getattr(res.result, "results", None) or []:
        node = node_result.node
        status = str(node_result.status)
        if status in ("error", "fail"):
            result.failures.append(f"{node.resource_type} {node.name}: {node_result.message}")
        elif status == "success" and node.resource_type == "model" and node.fqn[1:2] == ["marts"]:
            result.marts[node.name] = data_dir / "marts" / f"{node.name}.parquet"
    if res.exception:
        result.failures.append(str(res.exception))
    log(f"transform: {'ok' if result.success else 'FAILED'}; marts: {', '.join(result.marts) or 'none'}")
    for failure in result.failures:
        log(f"transform: {failure}")
    return result


def move_built_partitions(data_dir: Path) -> list[Path]:
    """Move the partition files a successful build wrote (under lake_building/) into lake/, each by
    one rename: a reader of the lake sees a month's old file or its new one, never a half-written one."""
    moved = []
    building = data_dir / LAKE_BUILDING
    for built in sorted(building.rglob("*.parquet")):
        target = data_dir / "lake" / built.relative_to(building)
        target.parent.mkdir(parents=True, exist_ok=True)
        built.replace(target)
        moved.append(target)
    shutil.rmtree(building, ignore_errors=True)
    return moved


def prune_lake(data_dir: Path) -> list[Path]:
    """Remove the lake partitions whose rows are all gone from their model (a month whose only file
    was superseded by one without it): the post-hook rewrites partitions, it cannot delete one."""
    import duckdb

    warehouse = data_dir / "warehouse.duckdb"
    removed = []
    if not warehouse.exists():
        return removed
    with duckdb.connect(str(warehouse)) as con:  # same settings as dbt's connection in this process
        for folder, (model, column) in LAKE_TABLES.items():
            lake = data_dir / "lake" / folder
            try:
                kept = {str(v) for (v,) in con.execute(f"select distinct {column} from {model}").fetchall()}
            except duckdb.CatalogException:
                continue  # not built yet
            for partition in sorted(lake.glob(f"{column}=*")):
                if partition.name.split("=", 1)[1] not in kept:
                    shutil.rmtree(partition)
                    removed.append(partition)
                    log(f"transform: removed {partition} (no current rows left)")
    return removed


def generate_docs(data_dir: Path) -> Path | None:
    """`dbt docs generate --static`: one self-contained HTML page with every model, column
    description (Vietnamese / English) and the lineage graph."""
    # Its own target folder: the build's run_results.json stays for whoever debugs the build.
    res = run_dbt(["docs", "generate", "--static", "--quiet"], data_dir, target="dbt_docs")
    page = data_dir / "dbt_docs" / "static_index.html"
    if not res.success or not page.exists():
        log(f"transform: dbt docs generate failed: {res.exception or 'no page written'}")
        return None
    log(f"transform: dbt docs at {page}")
    return page
