{{ current_rows('stg_bronze__cooperatives', 'cooperatives', ['rows.cooperative_name', 'rows.unit_key', 'rows.year']) }}
