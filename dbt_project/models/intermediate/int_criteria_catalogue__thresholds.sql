-- The threshold of each criterion or indicator per commune group ('' = every commune without a
-- threshold of its own group): the reference's, replaced key by key by a catalogue file's.
with

reference as (
    select *, 'reference: criteria.csv' as source, 2 as priority
    from {{ ref('stg_reference__criteria_thresholds') }}
),

catalogue as (
    select
        criteria_set,
        criterion_no,
        indicator_code,
        commune_group,
        cast(null as string) as threshold_text,
        comparison,
        threshold,
        'criteria_catalogue: ' || source_file as source,
        1 as priority
    from {{ ref('int_criteria_catalogue__current') }}
    where comparison is not null
),

final as (
    select {{ star_except(['priority']) }}
    from ({{ union_all_by_name(['catalogue', 'reference'], ['criteria_set', 'criterion_no', 'indicator_code',
             'commune_group', 'threshold_text', 'comparison', 'threshold', 'source', 'priority']) }})
    qualify row_number() over (
        partition by criteria_set, criterion_no, indicator_code, commune_group order by priority
    ) = 1
)

select * from final
