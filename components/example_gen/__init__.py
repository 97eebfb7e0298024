"""Ingestion (ExampleGen): each source's reader lists candidates, decoding checks and
converts them, and the ingest report counts what was taken and names what was not."""
