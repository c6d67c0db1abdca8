with

source as (
    select * from {{ source('lakehouse', 'ledger') }}
),

-- The statuses a file can end in, written from ingest.store.LEDGER_STATUSES.
statuses as (
    select * from {{ ref('ledger_statuses') }}
),

renamed as (
    select
        sha256 as source_sha256,
        department,
        dataset,
        file_name,
        period,
        status,
        coalesce(statuses.is_current, false) as is_current,
        received_at
    from source
    left join statuses using (status)
)

select * from renamed
