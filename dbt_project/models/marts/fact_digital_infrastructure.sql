with

current_rows as (
    select * from {{ ref('int_digital_infrastructure__current') }}
),

final as (
    select
        -- ids
        cast(unit_code as varchar) as unit_code,
        -- Codes only mean something with their list: the list in force until 30 June 2025, or after.
        cast(case when year <= 2024 then '2024' else '2025' end as varchar) as unit_list_version,
        cast(unit_name as varchar) as unit_name,
        cast(year as integer) as year,

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
        cast(department as varchar) as department
    from current_rows
)

select * from final
order by unit_code, year
