-- Every unit of either list with the unit and province it belongs to on today's map (the list
-- from 1 July 2025). A divided old commune goes to its main successor, so that a historical
-- series can be summed on today's provinces; the crosswalk mart keeps every part.
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

provinces as (
    select unit_key, unit_code, unit_name from units where level = 'province'
),

mapped as (
    select
        units.unit_key,
        units.unit_name,
        units.province_key,
        case when units.list_version = '2025' then units.unit_key else main_successor.new_unit_key end
            as current_unit_key
    from units
    left join main_successor on main_successor.old_unit_key = units.unit_key
),

final as (
    select
        mapped.unit_key,
        mapped.unit_name,
        province.unit_code as province_code,
        province.unit_name as province_name,
        mapped.current_unit_key,
        current_unit.province_key as current_province_key,
        current_province.unit_code as current_province_code,
        current_province.unit_name as current_province_name
    from mapped
    left join provinces as province on province.unit_key = mapped.province_key
    left join units as current_unit on current_unit.unit_key = mapped.current_unit_key
    left join provinces as current_province on current_province.unit_key = current_unit.province_key
)

select * from final
