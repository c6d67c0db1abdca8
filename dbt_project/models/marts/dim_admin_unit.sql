with

units as (
    select * from {{ ref('admin_units') }}
),

final as (
    select
        -- ids
        unit_key,
        unit_code,
        list_version,
        parent_key,
        province_key,

        -- names
        unit_name,
        short_name,
        ascii_name,
        unit_type,
        level,

        -- validity
        valid_from,
        valid_to
    from units
)

select * from final
