with

source as (
    select * from {{ source('lakehouse', 'ledger') }}
),

renamed as (
    select
        sha256 as source_sha256,
        department,
        dataset,
        file_name,
        period,
        status,
        status in ('landed', 'partly_landed') as is_current,
        received_at
    from source
)

select * from renamed
