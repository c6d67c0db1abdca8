with

rows as (
    select * from {{ ref('int_community_digital_teams__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(rows.year as integer) as year,
        cast(rows.hamlet_name as string) as hamlet_name,
        cast(rows.team_established as boolean) as team_established,
        cast(rows.members as bigint) as members,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by unit_key, hamlet_name, year
