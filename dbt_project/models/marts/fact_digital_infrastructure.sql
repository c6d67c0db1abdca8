with

current_rows as (
    select * from {{ ref('int_digital_infrastructure__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        -- the unit in the list of its time, and on today's map (from 1 July 2025)
        {{ unit_columns() }},

        cast(current_rows.year as integer) as year,

        -- numerics
        cast(fixed_broadband_household_pct as double) as fixed_broadband_household_pct,
        cast(mobile_4g5g_household_pct as double) as mobile_4g5g_household_pct,
        cast(smartphone_household_pct as double) as smartphone_household_pct,
        cast(adult_payment_account_pct as double) as adult_payment_account_pct,
        cast(internet_user_pct as double) as internet_user_pct,
        cast(free_wifi_points as bigint) as free_wifi_points,
        cast(it_loudspeaker_stations as bigint) as it_loudspeaker_stations,

        -- lineage: the department only; files and row numbers stay in the lakehouse
        -- (int_digital_infrastructure__current), so a corrected file changes only the rows it corrects.
        cast(department as string) as department
    from current_rows
    left join units on units.unit_key = current_rows.unit_key
)

select * from final
order by unit_key, year
