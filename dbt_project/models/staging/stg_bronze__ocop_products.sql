with

source as (
    select * from {{ source('bronze', 'ocop_products') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        unit_list_version || ':' || unit_level || ':' || unit_code as unit_key,
        unit_code,
        unit_level,
        unit_list_version,

        -- text
        product_name,
        producer,
        unit_name as unit_name_reported,
        category,
        ecommerce_platforms,

        -- periods
        cast(year as integer) as year,

        -- numerics
        stars,

        -- lineage
        {{ lineage_columns() }}
    from source
)

select * from renamed
