"""CuratedSchema: the source's checked-in schema, as SchemaGen would output it."""
