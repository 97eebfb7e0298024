"""ExampleGen for image/mask datasets: readers -> checked tf.Examples -> train/eval/test.

A FileBasedExampleGen with its own executor, so that it runs under every TFX orchestrator
(the Kubeflow v2 driver included) and caches on the driver's fingerprint of the data files.
Splits come from the dataset's own lists and folders, not from ExampleGen's hash buckets:
the executor's Do builds all splits at once (examples_by_split(), given everything it
reads) instead of the base class's per-split transform, and writes the records where they
are decoded (Executor.Do says why).
"""
from concurrent import futures
import json
import os
import posixpath
from typing import Any, Dict, List, Sequence

from absl import logging
import apache_beam as beam
from google.protobuf import wrappers_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from petseg.components.example_gen import decoding
from petseg.components.example_gen import items
from petseg.components.example_gen import listing
from petseg.components.example_gen import sources
from petseg.components.example_gen import tfrecord_sink
from petseg.core import config as config_lib
from petseg.records import ingest_report

_COUNT, _REJECTED, _CONVERTED = 'count', 'rejected', 'converted'


# Candidates decoded together, on one thread per core.
_BATCH = 16


class _DecodeFn(beam.DoFn):
  """A batch of candidates -> (split, serialized Example) each; rejections and conversions
  on the side.

  Decoding is nearly all C that releases the GIL (Pillow, zlib, TensorFlow's decoder), so
  a batch is decoded on one thread per core: 1.8x on 2 cores (measured), whatever the
  runner, with no worker processes to start. The batch's records then go, in the same
  stage, to TensorFlow's native writer (tfrecord_sink), which compresses them in C++ on a
  thread of its own, GIL released, while the next batch decodes. Beam's own writer
  compressed in Python on this thread, between batches: 0.91x a plain loop at 598 images
  against 1.12-1.17x now (bench/ingest.py, one session).
  """

  def __init__(self, config: config_lib.DatasetConfig):
    self._labels = config.labels
    self._ingested = beam.metrics.Metrics.counter('petseg', 'ingested')
    self._rejected = beam.metrics.Metrics.counter('petseg', 'rejected')

  def setup(self):
    self._pool = futures.ThreadPoolExecutor(os.cpu_count() or 1)

  def teardown(self):
    self._pool.shutdown()

  def _decode(self, candidate: items.Candidate):
    try:
      return decoding.to_example(candidate, self._labels)
    except items.Rejected as r:
      return r

  def process(self, batch: List[items.Candidate]):
    decoded_batch = list(self._pool.map(self._decode, batch))  # all decoded, then written
    for candidate, decoded in zip(batch, decoded_batch):
      if isinstance(decoded, items.Rejected):
        self._rejected.inc()
        yield beam.pvalue.TaggedOutput(_REJECTED, items.Skipped(
            candidate.split, candidate.name, decoded.file, decoded.reason, decoded.detail))
        continue
      example, note = decoded
      self._ingested.inc()
      if note:
        yield beam.pvalue.TaggedOutput(
            _CONVERTED, (candidate.split, candidate.name, candidate.image_path, note))
      yield candidate.split, example


def _write_report(events: List[Any], path: str, config: config_lib.DatasetConfig,
                  data_dir: str, listed_skips: List[items.Skipped]) -> None:
  counts = dict(e for kind, e in events if kind == _COUNT)
  skipped = listed_skips + [e for kind, e in events if kind == _REJECTED]
  converted = [e for kind, e in events if kind == _CONVERTED]
  ingest_report.write(ingest_report.build(config.name, data_dir, counts, skipped, converted),
                      path)


def dataset_config_of(exec_properties: Dict[str, Any]) -> config_lib.DatasetConfig:
  custom = example_gen_pb2.CustomConfig()
  proto_utils.json_to_proto(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY],
                            custom)
  packed = wrappers_pb2.StringValue()
  custom.custom_config.Unpack(packed)
  return config_lib.DatasetConfig.from_json(json.loads(packed.value))


def examples_by_split(pipeline: beam.Pipeline, data_dir: str, config: config_lib.DatasetConfig,
                      report_path: str) -> Dict[str, beam.PCollection]:
  """Split name -> its serialized examples: the source's candidates, decoded and checked in
  batches; what was rejected, converted or listed badly goes to the ingest report at
  `report_path`."""
  candidates, listed_skips = sources.get(config.name).reader.read(pipeline, data_dir, config)
  decoded = (candidates
             | 'Batch' >> beam.BatchElements(min_batch_size=_BATCH, max_batch_size=_BATCH)
             | 'Decode' >> beam.ParDo(_DecodeFn(config)).with_outputs(
                 _REJECTED, _CONVERTED, main='examples'))
  by_split = decoded.examples | 'BySplit' >> beam.Partition(
      lambda kv, _: listing.SPLITS.index(kv[0]), len(listing.SPLITS))
  counts = (decoded.examples | 'Splits' >> beam.Keys()
            | 'CountPerSplit' >> beam.combiners.Count.PerElement()
            | 'TagCounts' >> beam.Map(lambda c: (_COUNT, c)))
  _ = ((counts,
        decoded[_REJECTED] | 'TagRejected' >> beam.Map(lambda r: (_REJECTED, r)),
        decoded[_CONVERTED] | 'TagConverted' >> beam.Map(lambda c: (_CONVERTED, c)))
       | 'AllEvents' >> beam.Flatten()
       | 'Gather' >> beam.combiners.ToList()
       | 'WriteReport' >> beam.Map(_write_report, report_path, config, data_dir,
                                   listed_skips))
  return {split: by_split[i] | f'Examples[{split}]' >> beam.Values()
          for i, split in enumerate(listing.SPLITS)}


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Ingests a dataset into train/eval/test and writes the ingest report beside them.

  `required_splits` must each have examples (a pipeline trains, evaluates and tests).
  """

  def __init__(self, context=None, required_splits: Sequence[str] = listing.SPLITS):
    super().__init__(context)
    self._required_splits = tuple(required_splits)

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    raise NotImplementedError('all splits are read together: see examples_by_split()')

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    """The base class's Do, but each split's records are written in the stage that decodes
    them. The base class reshuffles every record before writing it, which on the
    DirectRunner holds the whole dataset in memory (4.4 GiB at 9,600 images of 375-500 px,
    measured); here the records come in no particular order already (the candidates were
    reshuffled before decoding), and memory stays that of a few batches."""
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    config = dataset_config_of(exec_properties)
    report_path = ingest_report.path(examples.uri)
    examples.split_names = artifact_utils.encode_split_names(list(listing.SPLITS))
    with self._make_beam_pipeline() as pipeline:
      for split, records in examples_by_split(
          pipeline, exec_properties[standard_component_specs.INPUT_BASE_KEY], config,
          report_path).items():
        _ = records | f'WriteSplit[{split}]' >> tfrecord_sink.WriteGzippedTFRecords(
            posixpath.join(artifact_utils.get_split_uri([examples], split),
                           write_split.DEFAULT_FILE_NAME))
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(
        examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))
    report = ingest_report.load(examples.uri)
    for line in report.summary_lines():
      logging.info('Ingested %s', line)
    for split, stats in report.splits.items():
      examples.set_int_custom_property(f'{split}_examples', stats.ingested)
      examples.set_int_custom_property(f'{split}_rejected', stats.rejected)
    examples.set_string_custom_property('labels', json.dumps(config.labels.to_json()))
    ingest_report.check(report, config.max_reject_fraction, report_path,
                        self._required_splits)


