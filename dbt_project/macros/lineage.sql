{# The lineage columns every bronze row carries, renamed the same way in every staging model. #}
{% macro lineage_columns() %}
        _department as department,
        _source_file as source_file,
        _sha256 as source_sha256,
        _row_number as source_row_number,
        _ingested_at as ingested_at
{%- endmacro %}

{# Rows of the files that are current (not superseded), one per key: when two current files
   carry the same key, the later one wins. #}
{% macro current_rows(staging_model, dataset, keys) %}
    select rows.*
    from {{ ref(staging_model) }} as rows
    inner join {{ ref('stg_lakehouse__ledger') }} as ledger
        on ledger.source_sha256 = rows.source_sha256 and ledger.department = rows.department
    where ledger.dataset = '{{ dataset }}' and ledger.is_current
    qualify row_number() over (
        partition by {{ keys | join(', ') }} order by rows.ingested_at desc, rows.source_row_number
    ) = 1
{% endmacro %}

{# The official unit every bronze row was resolved to at ingest; the key is unambiguous across lists. #}
{% macro resolved_unit_columns() %}
        unit_list_version || ':' || unit_level || ':' || unit_code as unit_key,
        unit_code,
        unit_level,
        unit_list_version,
{%- endmacro %}
