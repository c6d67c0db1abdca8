"""`ntm datasets new NAME`: every piece a new department dataset needs, written as a starting point
that builds, checks and publishes — the contract, its bronze source, the staging, intermediate and
mart models with their YAML (the mart's portal description and primary key in its YAML), and the
mart's validation suite. `tests/test_dataset_pieces.py` names the same pieces. The stub is a
commune-level dataset with one figure (`value`) per commune and year: rename and add columns to fit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ntm_core.settings import REPO_ROOT

NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class NewDataset:
    name: str  # the contract id and bronze table, e.g. irrigation_works
    title: str  # Vietnamese
    title_en: str

    @property
    def mart(self) -> str:
        return f"fact_{self.name}"

    @property
    def portal_name(self) -> str:
        return "ntm-" + self.name.replace("_", "-")


def paths(dataset: NewDataset, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Each piece of the dataset -> its file under `root` (the repository)."""
    models, n = root / "dbt_project" / "models", dataset.name
    return {
        "contract": root / "ingest" / "contracts" / f"{n}.yaml",
        "staging_sql": models / "staging" / f"stg_bronze__{n}.sql",
        "staging_yml": models / "staging" / f"stg_bronze__{n}.yml",
        "intermediate_sql": models / "intermediate" / f"int_{n}__current.sql",
        "intermediate_yml": models / "intermediate" / f"int_{n}__current.yml",
        "mart_sql": models / "marts" / f"{dataset.mart}.sql",
        "mart_yml": models / "marts" / f"{dataset.mart}.yml",
        "suite": root / "expectations" / "suites" / f"{dataset.mart}.yaml",
    }


def new_dataset(dataset: NewDataset, root: Path = REPO_ROOT) -> list[Path]:
    """Write every piece (none may exist yet) and add the bronze source; the files written."""
    if not NAME.fullmatch(dataset.name):
        raise ValueError(f"{dataset.name!r}: a dataset's name is lower case letters, digits and _")
    targets = paths(dataset, root)
    if existing := [str(p) for p in targets.values() if p.exists()]:
        raise FileExistsError(f"already there: {', '.join(existing)}")
    for piece, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TEMPLATES[piece].format(d=dataset), encoding="utf-8")
    sources = root / "dbt_project" / "models" / "staging" / "__sources.yml"
    add_bronze_source(sources, dataset)
    return [*targets.values(), sources]


def add_bronze_source(sources: Path, dataset: NewDataset) -> None:
    """The dataset's table at the end of the `bronze` source's tables (a text edit: the file keeps
    its comments and layout)."""
    lines = sources.read_text(encoding="utf-8").split("\n")
    start = lines.index("- name: bronze")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("- name:")), len(lines))
    while not lines[end - 1].strip():
        end -= 1
    lines[end:end] = BRONZE_TABLE.format(d=dataset).rstrip("\n").split("\n")
    sources.write_text("\n".join(lines), encoding="utf-8")


BRONZE_TABLE = """\
  - name: {d.name}
    description: {d.title_en} (contract ingest/contracts/{d.name}.yaml).
    loaded_at_field: _ingested_at
    freshness:
      warn_after:
        count: 400
        period: day
"""

CONTRACT = """\
# {d.title_en}. Header aliases are matched after folding (case, diacritics, punctuation, spacing).
id: {d.name}
title: {{vi: {d.title}, en: {d.title_en}}}
description:
  vi: {d.title}, theo xã và năm.
  en: {d.title_en}, by commune and year.
grain: one row per commune and year
unit_levels: [commune]
period: {{kind: year, column: year, fallback: [title, filename]}}
bad_rows: quarantine
keys: [unit_code, year]
columns:
  - name: unit_code
    type: code
    width: 5
    description: {{vi: Mã xã, en: Commune code}}
    aliases: [Mã xã, Mã ĐVHC, Commune code]
  - name: unit_name
    type: text
    required: true
    description: {{vi: Xã, en: Commune}}
    aliases: [Xã, Tên xã, Commune]
  - name: value
    type: number
    range: [0, null]
    description: {{vi: Giá trị, en: Value}}
    aliases: [Giá trị, Value]
  - name: year
    type: year
    description: {{vi: Năm, en: Year}}
    aliases: [Năm, Year]
"""

STAGING_SQL = """\
with

source as (
    select * from {{{{ source('bronze', '{d.name}') }}}}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{{{ resolved_unit_columns() }}}}

        -- text
        unit_name as unit_name_reported,

        -- periods
        cast(year as integer) as year,

        -- numerics
        value,

        -- lineage
        {{{{ lineage_columns() }}}}
    from source
)

select * from renamed
"""

STAGING_YML = """\
version: 2

models:
  - name: stg_bronze__{d.name}
    description: >
      {d.title_en} as landed: one row per commune and year.
"""

INTERMEDIATE_SQL = """\
{{{{ current_rows('stg_bronze__{d.name}', '{d.name}', ['rows.unit_key', 'rows.year']) }}}}
"""

INTERMEDIATE_YML = """\
version: 2

models:
  - name: int_{d.name}__current
    description: >
      The rows of the files that count: one per commune and year.
"""

MART_SQL = """\
with

rows as (
    select * from {{{{ ref('int_{d.name}__current') }}}}
),

units as (
    select * from {{{{ ref('int_admin_units__on_current_map') }}}}
),

final as (
    select
        {{{{ unit_columns() }}}},
        cast(rows.year as integer) as year,
        cast(rows.value as double) as value,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by unit_key, year
"""

MART_YML = """\
version: 2

models:
  - name: {d.mart}
    description: >
      {d.title}, mỗi dòng là một xã trong một năm. /
      {d.title_en}, one row per commune and year.
    meta:
      # What the portal shows of this mart: publish/ reads it from the dbt manifest.
      portal:
        name: {d.portal_name}
        title: {d.title}
        title_en: {d.title_en}
        notes: >-
          {d.title}, theo xã và năm.
        notes_en: >-
          {d.title_en}, by commune and year.
        tags: [nông thôn mới, NTM]
        tags_en: [NTM, new rural development]
        update_frequency: annual
    config:
      contract:
        enforced: true
    constraints:
      - type: primary_key
        columns: [unit_key, year]
    columns:
      - name: unit_key
        data_type: string
        description: Khóa đơn vị theo danh mục của thời điểm số liệu / Unit key in the list of the data's time
        meta: {{label_vi: Khóa đơn vị, label_en: Unit key}}
        constraints: [{{type: not_null}}]
        data_tests:
          - not_null
          - relationships:
              arguments:
                to: ref('dim_admin_unit')
                field: unit_key
      - name: unit_code
        data_type: string
        description: Mã đơn vị hành chính / Administrative unit code
        meta: {{label_vi: Mã ĐVHC, label_en: Unit code}}
      - name: unit_level
        data_type: string
        description: Cấp của đơn vị / Level of the unit
        meta: {{label_vi: Cấp đơn vị, label_en: Unit level}}
        data_tests:
          - accepted_values:
              arguments:
                values: [province, district, commune]
      - name: unit_list_version
        data_type: string
        description: Danh mục của mã (2024 hoặc 2025) / List the code belongs to (2024 or 2025)
        meta: {{label_vi: Phiên bản danh mục, label_en: Unit list version}}
      - name: unit_name
        data_type: string
        description: Tên chính thức của đơn vị / Official unit name
        meta: {{label_vi: Tên ĐVHC, label_en: Unit name}}
      - name: province_code
        data_type: string
        description: Mã tỉnh theo danh mục của thời điểm số liệu / Province code in the list of the data's time
        meta: {{label_vi: Mã tỉnh, label_en: Province code}}
      - name: province_name
        data_type: string
        description: Tỉnh theo danh mục của thời điểm số liệu / Province in the list of the data's time
        meta: {{label_vi: Tỉnh, label_en: Province}}
      - name: current_unit_key
        data_type: string
        description: Đơn vị kế thừa trên bản đồ hiện nay / Successor unit on today's map
        meta: {{label_vi: Đơn vị hiện nay, label_en: Unit today}}
        data_tests:
          - relationships:
              arguments:
                to: ref('dim_admin_unit')
                field: unit_key
      - name: current_province_code
        data_type: string
        description: Mã tỉnh hiện nay / Province code today
        meta: {{label_vi: Mã tỉnh hiện nay, label_en: Province code today}}
      - name: current_province_name
        data_type: string
        description: Tỉnh hiện nay / Province today
        meta: {{label_vi: Tỉnh hiện nay, label_en: Province today}}
      - name: year
        data_type: integer
        description: Năm / Year
        meta: {{label_vi: Năm, label_en: Year}}
        constraints: [{{type: not_null}}]
        data_tests: [not_null]
      - name: value
        data_type: double
        description: Giá trị / Value
        meta: {{label_vi: Giá trị, label_en: Value}}
        data_tests: [non_negative]
      - name: department
        data_type: string
        description: Đơn vị gửi số liệu / Department that sent the figures
        meta: {{label_vi: Đơn vị gửi số liệu, label_en: Department}}
"""

SUITE = """\
# Great Expectations suite for the mart {d.mart} (critical blocks publishing of this dataset only).
# Columns, not-null columns, accepted values, ranges, keys and references come from the mart's dbt YAML
# (expectations/from_dbt.py); this file holds only what is particular to the mart.
mart: {d.mart}
expectations:
- type: expect_column_values_to_be_between
  severity: critical
  kwargs:
    column: year
    min_value: 2015
    max_value: '{{current_year}}'
- type: freshness
  severity: warning
  column: year
  max_age_years: 3
"""

TEMPLATES = {
    "contract": CONTRACT,
    "staging_sql": STAGING_SQL,
    "staging_yml": STAGING_YML,
    "intermediate_sql": INTERMEDIATE_SQL,
    "intermediate_yml": INTERMEDIATE_YML,
    "mart_sql": MART_SQL,
    "mart_yml": MART_YML,
    "suite": SUITE,
}
