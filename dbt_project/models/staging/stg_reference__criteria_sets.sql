-- The criteria sets of the reference files, with the period split into years and the tier code
-- departments write (ntm, nang_cao, kieu_mau) where the set has one.
with

sets as (
    select * from {{ ref('criteria_sets') }}
),

names_en as (
    select * from {{ ref('criteria_set_names_en') }}
),

tiers as (
    select * from {{ ref('criteria_tiers') }}
),

renamed as (
    select
        -- ids
        sets.set_id as criteria_set,
        sets.decision_no,
        sets.level,
        sets.tier,
        tiers.tier_code,

        -- text
        sets.title_vi,
        names_en.title_en,
        sets.issuer,
        sets.province,
        sets.completeness,
        sets.source_url,
        sets.note,

        -- dates: a set in force "from its decision" when the sources give no other date
        cast(sets.decision_date as date) as decision_date,
        cast(sets.in_force_from as date) as in_force_from,

        -- periods
        try_cast(split_part(sets.period, '-', 1) as integer) as period_from_year,
        try_cast(split_part(sets.period, '-', 2) as integer) as period_to_year,

        -- numerics
        cast(sets.criteria_count as integer) as criteria_total,
        cast(sets.indicator_count as integer) as indicator_total
    from sets
    left join names_en on names_en.set_id = sets.set_id
    left join tiers on tiers.level = sets.level and tiers.tier = sets.tier
)

select * from renamed
