"""The pipeline's steps, a folder each, shaped as TFX shapes its own
(tfx/components/<stage>/): `component.py` (the step: its spec, inputs, outputs and
parameters) and `executor.py` (what it does), with the helpers only that step uses.

  example_gen/      ExampleGen: the dataset readers, decoding, the ingest report
  curated_schema/   the source's schema, checked in, as SchemaGen's output
  validation_gate/  fails the run on any of ExampleValidator's anomalies
  trainer/          the Trainer with its runtime parameters (the model code: models/)
  evaluator/        TFMA's metrics, their intervals, the comparison with the baseline
  latest_release/   the served version as the baseline; is anything new?
  release_record/   the run's release record, report and model card
  pusher/           the blessed model as the registry's next version

The registry they read and write is petseg.registry, the records petseg.records.
"""
