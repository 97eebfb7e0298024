"""Data validation: the curated schema ExampleValidator checks against, and the gate that
stops a run on its anomalies."""
