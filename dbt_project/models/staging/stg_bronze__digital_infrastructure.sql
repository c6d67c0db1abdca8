with

source as (
    select * from {{ source('bronze', 'digital_infrastructure') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

        -- text
        unit_name as unit_name_reported,

        -- periods
        cast(year as integer) as year,

        -- numerics
        fixed_broadband_household_pct,
        mobile_4g5g_household_pct,
        smartphone_household_pct,
        adult_payment_account_pct,
        internet_user_pct,
        free_wifi_points,
        it_loudspeaker_stations,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
