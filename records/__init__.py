"""The records a run leaves and how they are shown: the ingest report, the release record
(`summary.RunSummary`, stored in each released version as `release.json`), its model card
and its HTML report. Each record is a typed dataclass with one reader."""
