"""API schemas (pydantic): the JSON the API speaks, apart from tables and domain objects."""
