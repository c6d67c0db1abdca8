{{ current_rows('stg_bronze__growing_area_codes', 'growing_area_codes', ['rows.area_code']) }}
