{% macro export_parquet() %}
    copy (select * from {{ this }}) to '{{ env_var("NTM_DATA_DIR") }}/marts/{{ this.name }}.parquet' (format parquet)
{% endmacro %}
