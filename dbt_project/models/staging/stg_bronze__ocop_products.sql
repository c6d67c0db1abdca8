with

source as (
    select * from {{ source('bronze', 'ocop_products') }}
),

renamed as (
    select
        -- the official unit, resolved at ingest
        {{ resolved_unit_columns() }}

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
