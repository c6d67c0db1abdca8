with

rows as (
    select * from {{ ref('int_ocop_products__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(rows.product_name as string) as product_name,
        cast(rows.producer as string) as producer,
        cast(rows.year as integer) as year,
        cast(rows.stars as bigint) as stars,
        cast(rows.category as string) as category,
        cast(rows.ecommerce_platforms as string) as ecommerce_platforms,
        cast(coalesce({{ count_listed('rows.ecommerce_platforms', ',') }}, 0) as bigint) as ecommerce_platform_count,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by product_name, producer, year
