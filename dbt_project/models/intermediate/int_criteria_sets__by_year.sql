-- Tagged `today`: it reads the current date, so an incremental build rebuilds it on a new day.
{{ config(tags=["today"]) }}
-- The set in force each year for each level and tier: a set applies from the year it comes into
-- force to the last year of its period (or this year, for a set without one), and where two sets
-- of a tier overlap in a year the later one applies (51/2025 replaces 318/2022 in 2026).
with

sets as (
    select * from {{ ref('int_criteria_sets') }}
    where in_force_from is not null
),

years as (
    select sets.*, {{ each_integer('year(sets.in_force_from)', 'coalesce(sets.period_to_year, year(current_date))') }} as year
    from sets
),

final as (
    select cast(year as integer) as year, criteria_set, level, tier, tier_code
    from years
    qualify row_number() over (partition by year, level, tier order by in_force_from desc, criteria_set) = 1
)

select * from final
