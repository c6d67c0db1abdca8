-- Commune groups of the current (not superseded) files: one per commune and criteria set, from the
-- latest year of grouping a file gives.
with

current_groups as (
    {{ current_rows('stg_bronze__commune_groups', 'commune_groups', ['rows.unit_key', 'rows.criteria_set', 'rows.year']) }}
)

select * from current_groups
qualify row_number() over (partition by unit_key, criteria_set order by year desc) = 1
