"""The TFX components of the petseg pipeline, one folder per stage, as TFX lays out its own
(tfx/components/<stage>/), each with the helpers only it uses:

  ingest/      ExampleGen: the dataset readers, decoding and the ingest report;
  validation/  the curated schema and the gate on ExampleValidator's anomalies;
  trainer/     the Trainer with its runtime parameters (the model code is in models/);
  evaluator/   the Evaluator: TFMA's metrics, intervals and the comparison with the
               released model;
  release/     LatestRelease, the release record, model card and report, the Pusher, and
               the release registry with its log, manager and page.
"""
