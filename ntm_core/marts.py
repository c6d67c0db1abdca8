"""What a mart's dbt YAML declares about itself, read the same way by every stage (publish reads
the dbt manifest, expectations the YAML; both hand their model here)."""

from __future__ import annotations


def primary_key(model: dict) -> list[str]:
    """The key a mart declares once, as a `primary_key` constraint: the model's (several columns) or
    a column's (dbt builds it into the table, which refuses a duplicate). `model` is the manifest's
    node or the YAML's model: their columns are a dict or a list."""
    for constraint in model.get("constraints") or []:
        if constraint["type"] == "primary_key":
            return list(constraint["columns"])
    columns = model.get("columns") or {}
    columns = columns.values() if isinstance(columns, dict) else columns
    return [c["name"] for c in columns if any(k["type"] == "primary_key" for k in c.get("constraints") or [])]
