with

crosswalk as (
    select * from {{ ref('admin_unit_crosswalk') }}
),

final as (
    select
        old_unit_key,
        new_unit_key,
        relation,
        is_main_successor,
        needs_review,
        review_reason
    from crosswalk
)

select * from final
