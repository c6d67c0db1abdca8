with

rows as (
    select * from {{ ref('int_growing_area_codes__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(rows.area_code as string) as area_code,
        cast(rows.code_kind as string) as code_kind,
        cast(rows.crop as string) as crop,
        cast(rows.area_ha as double) as area_ha,
        cast(rows.export_market as string) as export_market,
        cast(rows.year as integer) as year,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by area_code
