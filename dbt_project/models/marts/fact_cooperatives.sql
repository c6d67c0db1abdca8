with

rows as (
    select * from {{ ref('int_cooperatives__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(rows.cooperative_name as string) as cooperative_name,
        cast(rows.year as integer) as year,
        cast(rows.field as string) as field,
        cast(rows.members as bigint) as members,
        cast(rows.uses_digital_tools as boolean) as uses_digital_tools,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by unit_key, cooperative_name, year
