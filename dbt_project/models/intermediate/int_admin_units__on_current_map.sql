-- Every unit of either list with the unit and province it belongs to on today's map (the list
-- from 1 July 2025). A divided old commune goes to its main successor, so that a historical
-- series can be summed on today's provinces; the crosswalk mart keeps every part. Old provinces
-- and districts have no successor unit: their province today is the one that received most of
-- their communes.
with

units as (
    select * from {{ ref('dim_admin_unit') }}
),

main_successor as (
    select old_unit_key, new_unit_key
    from {{ ref('dim_admin_unit_crosswalk') }}
    where is_main_successor
    qualify row_number() over (partition by old_unit_key order by new_unit_key) = 1
),

province_links as (
    select old_unit.province_key as old_province_key, new_unit.province_key as new_province_key,
           count(*) as communes
    from main_successor
    inner join units as old_unit on old_unit.unit_key = main_successor.old_unit_key
    inner join units as new_unit on new_unit.unit_key = main_successor.new_unit_key
    group by all
),

province_successor as (
    select old_province_key, max_by(new_province_key, communes) as new_province_key
    from province_links
    group by all
),

provinces as (
    select unit_key, unit_code, unit_name from units where level = 'province'
),

mapped as (
    select
        units.unit_key,
        units.unit_name,
        units.province_key,
        case when units.list_version = '2025' then units.unit_key else main_successor.new_unit_key end
            as current_unit_key,
        case when units.list_version = '2025' then units.province_key
             else coalesce(new_unit.province_key, province_successor.new_province_key) end as current_province_key
    from units
    left join main_successor on main_successor.old_unit_key = units.unit_key
    left join units as new_unit on new_unit.unit_key = main_successor.new_unit_key
    left join province_successor on province_successor.old_province_key = units.province_key
),

final as (
    select
        mapped.unit_key,
        mapped.unit_name,
        province.unit_code as province_code,
        province.unit_name as province_name,
        mapped.current_unit_key,
        mapped.current_province_key,
        current_province.unit_code as current_province_code,
        current_province.unit_name as current_province_name
    from mapped
    left join provinces as province on province.unit_key = mapped.province_key
    left join provinces as current_province on current_province.unit_key = mapped.current_province_key
)

select * from final
