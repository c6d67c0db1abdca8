{{ current_rows('stg_bronze__ocop_products', 'ocop_products', ['rows.product_name', 'rows.producer', 'rows.year']) }}
