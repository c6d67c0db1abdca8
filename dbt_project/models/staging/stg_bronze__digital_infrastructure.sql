with

source as (
    select * from {{ source('bronze', 'digital_infrastructure') }}
),

renamed as (
    select
        -- ids
        unit_list_version || ':commune:' || unit_code as unit_key,
        unit_code,
        unit_list_version,
        unit_name as unit_name_reported,
        cast(year as integer) as year,

        -- numerics (percent 0-100, counts)
        fixed_broadband_household_pct,
        mobile_4g5g_household_pct,
        smartphone_household_pct,
        adult_payment_account_pct,
        internet_user_pct,
        free_wifi_points,
        it_loudspeaker_stations,

        -- lineage
        _department as department,
        _source_file as source_file,
        _sha256 as source_sha256,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
)

select * from renamed
