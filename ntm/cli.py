"""`ntm`: the command line of the lakehouse. Each subcommand is one stage function of ntm.pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ntm import pipeline


def _print_ingest(result) -> None:
    from ingest.safety import shown_name

    for f in result.files:
        line = f"  {f.status:<14} {shown_name(f.department)}/{shown_name(f.dataset)}/{shown_name(f.file_name)}"
        if f.rows_landed or f.rows_quarantined:
            line += f"  ({f.rows_landed} rows landed, {f.rows_quarantined} held back)"
        print(line)
        if f.reason:
            print(f"  {'':<14} reason: {f.reason}")
        if f.report:
            print(f"  {'':<14} report: {f.report}")


def _print_validation(result) -> None:
    for mart in result.unchanged:
        print(f"  {'passed':<8} {mart} (unchanged since it passed: not read again)")
    for mart, v in result.marts.items():
        print(f"  {'passed' if v.passed else 'BLOCKED':<8} {mart}")
        for c in v.failed_critical + v.failed_warnings:
            sample = f" e.g. {c.unexpected_sample[:3]}" if c.unexpected_sample else ""
            print(
                f"  {'':<8} {c.severity:<8} {c.expectation} column={c.column or '(table)'} "
                f"observed={c.observed}{sample}"
            )


def _print_publish(result) -> None:
    for d in result.datasets:
        print(f"  {d.status:<9} {d.url}  ({d.rows} rows)")
    for name, status in result.maps:
        print(f"  {status:<9} {name}  (map)")
    for why in result.refused.values():
        print(f"  REFUSED   {why}")


def _day(text: str):
    import datetime as dt

    return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)


def _date(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)


def _datasets_parser(sub) -> None:
    p = sub.add_parser("datasets", help="a new department dataset: every piece it needs, as a starting point")
    datasets = p.add_subparsers(dest="datasets_command", required=True)
    d = datasets.add_parser("new", help="write its contract, source, models, mart YAML (portal description) and suite")
    d.add_argument("name", help="its id, lower case with _, e.g. irrigation_works")
    d.add_argument("--title", required=True, help="its Vietnamese title, e.g. 'Công trình thủy lợi'")
    d.add_argument("--title-en", required=True, help="its English title, e.g. 'Irrigation works'")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntm", description="NTM open-data lakehouse pipeline")
    parser.add_argument("--data-dir", type=Path, help="lakehouse files (default: $NTM_DATA_DIR or ./data)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="land new files from the drop zone")
    p.add_argument("--dropzone", type=Path, help="<dropzone>/<department>/<dataset>/<files> (default: $NTM_DROPZONE)")
    p.add_argument("--department", action="append", help="only this department (repeatable)")
    p = sub.add_parser("backfill", help="read again, with today's contracts, the files received between two dates")
    p.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--until", type=_day, required=True, help="day after the last, YYYY-MM-DD (UTC)")
    p.add_argument("--dropzone", type=Path, help="where the reports go (default: $NTM_DROPZONE)")
    p.add_argument("--department", action="append", help="only this department (repeatable)")
    p = sub.add_parser("check", help="the verdict ingest would give a file, landing nothing")
    p.add_argument("file", type=Path)
    p.add_argument("--dataset", required=True, help="the dataset folder it would be dropped in")
    p.add_argument("--department", required=True, help="the department folder it would be dropped in")
    p.add_argument("--json", action="store_true", help="print the report ingest would write, as JSON")
    p = sub.add_parser("transform", help="dbt build: staging, intermediate, marts")
    p.add_argument("--select", help="dbt selection, e.g. fact_digital_infrastructure+")
    p.add_argument("--changed", action="store_true", help="only what the sources changed since the last build feed")
    p.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="spark: the same project on a local Spark, marts under <data dir>/marts_spark/ (docs/spark.md)",
    )
    p = sub.add_parser("validate", help="run the Great Expectations suites on the marts")
    p.add_argument("--changed", action="store_true", help="skip the marts that passed with the same content")
    p = sub.add_parser("publish", help="publish validated marts to CKAN")
    p.add_argument("--mart", action="append", help="only this mart (repeatable)")
    p = sub.add_parser("run", help="ingest, transform, validate and publish")
    p.add_argument("--dropzone", type=Path)
    p.add_argument("--timings", action="store_true", help="print the seconds each stage took (and start-up)")
    p = sub.add_parser("scorecard", help="one commune's NTM scorecard (criteria met, unmet, recognition)")
    p.add_argument("name", help="the commune's name, as a department would write it")
    p.add_argument("--province", help="the province it lies in (narrows the name down)")
    p.add_argument("--year", type=int, help="assessment year (default: the latest)")
    p.add_argument("--set", dest="criteria_set", help="criteria set id or ntm, nang_cao, kieu_mau")
    p.add_argument("--json", action="store_true", help="print the scorecard as one JSON object")
    p = sub.add_parser("freshness", help="how up to date each department's data is; reminders for the late ones")
    p.add_argument(
        "--as-of", type=_date, help="judge on this day, YYYY-MM-DD (default: today; the next build restores today's)"
    )
    p.add_argument("--reminders", type=Path, help="where the reminder lists go (default: <data dir>/reminders)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p = sub.add_parser("iceberg", help="write bronze, the records lake and the marts as Iceberg tables")
    p.add_argument("--catalog", help="the SQL catalog's SQLAlchemy URL (default: NTM_ICEBERG_CATALOG_URI or SQLite)")
    p = sub.add_parser("portal", help="the local CKAN portal")
    p.add_argument("action", choices=["up", "down", "status"])
    p = sub.add_parser("units", help="administrative units: resolve names, export the lists")
    units = p.add_subparsers(dest="units_command", required=True)
    r = units.add_parser("resolve", help="resolve a CSV with columns name[, parent, grandparent, code, date]")
    r.add_argument("input", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    units.add_parser("export-seeds", help="write the unit lists and crosswalk to dbt_project/seeds/admin_units")
    p = sub.add_parser("departments", help="the department registry: list, show or add a department")
    departments = p.add_subparsers(dest="departments_command", required=True)
    d = departments.add_parser("list", help="the registered departments (drop-zone folder, province, title)")
    d.add_argument("--kind", help="only this kind, e.g. so-khcn")
    d.add_argument("--province", help="only this province, e.g. 'Lào Cai' or 15")
    d.add_argument("--json", action="store_true", help="print the entries as JSON")
    d = departments.add_parser("show", help="one department: kind, province, titles, datasets expected, sources")
    d.add_argument("name", help="its drop-zone folder name, e.g. so-khcn-lao-cai")
    d.add_argument("--json", action="store_true", help="print the entry as JSON")
    d = departments.add_parser("add", help="register a department: one line in the NTM_DEPARTMENTS file")
    d.add_argument("name", help="its drop-zone folder name (lower case, digits, hyphens)")
    d.add_argument("--province", help="its province on today's map (name or code); none for a national one")
    d.add_argument("--kind", help="its kind (titles and expected datasets come from it), e.g. so-khcn")
    d.add_argument("--title", help="its Vietnamese name (default: the kind's, with the province)")
    d.add_argument("--title-en", help="its English name")
    d.add_argument("--registry", type=Path, help="the registry file to add to (default: $NTM_DEPARTMENTS)")
    p = sub.add_parser("contracts", help="list the datasets, or write their accepted headers as a page")
    p.add_argument("--write", type=Path, help="write the page here (e.g. docs/datasets.md)")
    _datasets_parser(sub)

    return parser


def _contracts(args) -> int:
    from ingest.contract import all_contracts
    from ingest.docs import write

    if args.write:
        print(write(args.write))
    else:
        for c in all_contracts().values():
            print(f"{c.id:<26} {c.title['vi']} / {c.title['en']}")
    return 0


def _departments(args) -> int:
    """list / show / add: each one call into the department registry (ntm_core.departments)."""
    commands = {"list": _departments_list, "show": _departments_show, "add": _departments_add}
    return commands[args.departments_command](args)


def _departments_list(args) -> int:
    from ntm_core.departments import listed

    found = listed(args.kind, args.province)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for name, entry in found.items():
            print(f"{name:<26} {entry['province'] or '(national)':<14} {entry['title']}")
    return 0 if found else 1


def _departments_show(args) -> int:
    import yaml

    from ntm_core.departments import closest, department

    entry = department(args.name)
    if entry is None:
        print(f"'{args.name}' is not a registered department; the closest: {closest(args.name)}", file=sys.stderr)
        return 1
    shown = {args.name: entry}
    print(
        json.dumps(shown, ensure_ascii=False, indent=2)
        if args.json
        else yaml.safe_dump(shown, allow_unicode=True, sort_keys=False).rstrip()
    )
    return 0


def _departments_add(args) -> int:
    """Exit 2 when the department cannot be added (name taken or malformed, unknown kind or province)."""
    from ntm_core.departments import RegistryError, add_department

    try:
        path, entry = add_department(args.name, args.province, args.kind, args.title, args.title_en, args.registry)
    except RegistryError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{path}: {args.name} registered ({entry['title']} / {entry['title_en']})")
    return 0


def _datasets(args) -> int:
    from ntm.scaffold import NewDataset, new_dataset

    for path in new_dataset(NewDataset(args.name, args.title, args.title_en)):
        print(path)
    print("then: the department kinds that send it (and how often) in ingest/departments.yaml")
    return 0


def _units(args) -> int:
    if args.units_command == "export-seeds":
        from ntm.seeds import main as export_seeds

        return export_seeds()
    from ingest.units.cli import main as units_main

    return units_main(args)


def _portal(args) -> int:
    from ntm.local_portal import local_portal

    portal = local_portal()
    if args.action == "up":
        print(f"CKAN portal: {portal.up().url}")
    elif args.action == "down":
        portal.down()
    else:
        state = portal.status()
        print(json.dumps(state, indent=2))
        return 0 if state["ckan"] else 1
    return 0


def _ingest(args) -> int:
    _print_ingest(pipeline.ingest(args.dropzone, args.data_dir, departments=args.department))
    return 0


def _backfill(args) -> int:
    result = pipeline.backfill(args.since, args.until, args.dropzone, args.data_dir, departments=args.department)
    _print_ingest(result)
    return 1 if result.rejected else 0


def _check(args) -> int:
    """Exit 0 when the file would land whole, 1 otherwise; nothing is written to the data dir."""
    from ingest.check import check_file, render

    verdict = check_file(args.file, args.dataset, args.department)
    print(json.dumps(verdict.as_json(), ensure_ascii=False, indent=2, default=str) if args.json else render(verdict))
    return 0 if verdict.lands_whole else 1


def _scorecard(args) -> int:
    """Exit 0 with a scorecard; 1 when the name is ambiguous or unknown, or has no scorecard."""
    from ntm.scorecard import as_json, render

    lookup = pipeline.scorecard(args.name, args.data_dir, args.province, args.year, args.criteria_set)
    if args.json and lookup.found:
        print(json.dumps(as_json(lookup), ensure_ascii=False, indent=2))
    else:
        print(render(lookup), file=sys.stdout if lookup.found else sys.stderr)
    return 0 if lookup.found else 1


def _freshness(args) -> int:
    from ntm.freshness import render

    rows, written = pipeline.freshness(args.data_dir, args.as_of, args.reminders)
    print(json.dumps(rows, ensure_ascii=False, indent=2, default=str) if args.json else render(rows))
    for path in written:
        print(f"  reminder: {path}")
    return 0


def _iceberg(args) -> int:
    for table in pipeline.iceberg(args.data_dir, args.catalog):
        print(f"  {table.identifier:<45} {table.rows:>10,} rows  by {', '.join(table.partition_by) or '-'}")
    return 0


def _transform(args) -> int:
    if args.engine == "spark":
        return _transform_on_spark(args)
    return 0 if pipeline.transform(args.data_dir, args.select, changed_only=args.changed).success else 1


def _transform_on_spark(args) -> int:
    from ntm.spark_build import SparkUnavailable

    if args.select or args.changed:
        print("--select and --changed are for DuckDB: a Spark build is always a full one (docs/spark.md)")
        return 2
    try:
        return 0 if pipeline.transform_on_spark(args.data_dir).success else 1
    except SparkUnavailable as error:
        print(f"Spark cannot run here: {error}")
        return 2


def _validate(args) -> int:
    result = pipeline.validate(args.data_dir, changed_only=args.changed)
    _print_validation(result)
    return 1 if result.blocked else 0


def _publish(args) -> int:
    published = pipeline.publish(args.data_dir, marts=args.mart, maps=not args.mart)
    _print_publish(published)
    return 1 if published.refused else 0


def _run(args) -> int:
    startup = _process_age()
    result = pipeline.run_all(args.dropzone, args.data_dir)
    print("Ingest:")
    _print_ingest(result.ingest)
    if result.transform.success:
        print("Validation:")
        _print_validation(result.validation)
        print("Published:")
        _print_publish(result.publish)
    else:
        print("Transform FAILED:\n  " + "\n  ".join(result.transform.failures))
    if args.timings:
        _print_timings({"start-up": startup, **result.seconds})
    if not result.transform.success:
        return 1
    return 1 if result.validation.blocked or result.publish.refused else 0


def _process_age() -> float:
    """Seconds since this process started (the interpreter and the imports before a run); 0 where
    /proc does not say."""
    try:
        started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))


def _print_timings(seconds: dict[str, float]) -> None:
    print("Timings:")
    for stage, value in [*seconds.items(), ("total", sum(seconds.values()))]:
        print(f"  {stage:<10} {value:7.2f} s")


COMMANDS = {
    "contracts": _contracts,
    "units": _units,
    "datasets": _datasets,
    "departments": _departments,
    "portal": _portal,
    "ingest": _ingest,
    "backfill": _backfill,
    "check": _check,
    "scorecard": _scorecard,
    "freshness": _freshness,
    "iceberg": _iceberg,
    "transform": _transform,
    "validate": _validate,
    "publish": _publish,
    "run": _run,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
