{% macro export_parquet() %}
    copy (select * from {{ this }}) to '{{ env_var("NTM_DATA_DIR") }}/marts/{{ this.name }}.parquet' (format parquet)
{% endmacro %}

{# The rows this build wrote (they carry its `loaded_through`), as Parquet partitioned by a column:
   only the partitions rebuilt are rewritten, the others stay as they are. #}
{% macro export_partitions(name, partition_column) %}
    copy (
        select * exclude (loaded_through) from {{ this }}
        where loaded_through = (select max(loaded_through) from {{ this }})
    ) to '{{ env_var("NTM_DATA_DIR") }}/lake/{{ name }}'
    (format parquet, partition_by ({{ partition_column }}), overwrite_or_ignore, filename_pattern 'data_{i}')
{% endmacro %}
