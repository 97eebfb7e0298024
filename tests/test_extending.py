"""Adding a data source or a model is two files: its module and its registry entry
(docs/architecture.md). This module is both a source's reader and a model's module: the
test registers them, as an entry in components/example_gen/sources.py and models/registry.py would,
and runs the real pipeline through the CLI with them."""
import json
import posixpath

import numpy as np
from PIL import Image
import pytest
import tf_keras as keras

from petseg import cli
from petseg.components.example_gen import listing
from petseg.components.example_gen import sources
from petseg.core import labels as labels_lib
from petseg.models import registry


# --- A reader (components.sources.Reader): pictures/NAME.png with labels/NAME.png, every
# split carved from the pool by name hash.
def fingerprint_patterns(config):
  del config
  return listing.fingerprint_patterns(('*/*',))


def read(pipeline, data_dir, config):
  def choose(stems):
    return [(listing.carve(s, config.eval_fraction, config.test_fraction), s, ())
            for s in sorted(stems)]
  return listing.to_pcollection(pipeline, listing.pair(
      posixpath.join(data_dir, 'pictures'), posixpath.join(data_dir, 'labels'), choose,
      listing.outside_data_dir(data_dir, config.follow_symlinks)))


# --- A model (a module with build(num_classes, **options)): two convolutions.
def build(num_classes, **options):
  del options
  images = keras.Input((None, None, 3))
  x = keras.layers.Conv2D(8, 3, padding='same', activation='relu')(images)
  return keras.Model(images, keras.layers.Conv2D(num_classes, 1)(x))


def _write_data(root, count=30, size=32):
  rng = np.random.default_rng(0)
  for folder in ('pictures', 'labels'):
    (root / folder).mkdir(parents=True)
  for i in range(count):
    mask = np.zeros((size, size), np.uint8)
    top, left = rng.integers(0, size // 2, size=2)
    mask[top:top + size // 2, left:left + size // 2] = 1
    image = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
    image[mask == 1] += 150
    Image.fromarray(image).save(root / 'pictures' / f'item{i}.png')
    Image.fromarray(mask).save(root / 'labels' / f'item{i}.png')


@pytest.mark.slow
def test_a_registered_source_and_model_run_through_the_pipeline(tmp_path, monkeypatch,
                                                               capsys):
  monkeypatch.setitem(sources.SOURCES, 'flat', sources.Source(
      __name__, 'folder.pbtxt',
      lambda *_: labels_lib.class_id_labels(['background', 'thing'], [labels_lib.IGNORE_ID]),
      'pictures/ beside labels/'))
  monkeypatch.setitem(registry.MODELS, 'two_convs',
                      registry.ModelDef(__name__, 32, 1, 'two convolutions'))
  _write_data(tmp_path / 'data')
  out = tmp_path / 'out'
  assert cli.main(['run', '--dataset', 'flat', '--model', 'two_convs', '--data-dir',
                   str(tmp_path / 'data'), '--output-dir', str(out), '--epochs', '2',
                   '--batch-size', '4', '--min-mean-iou', '0', '--test-fraction', '0.2']) == 0
  summary = json.loads((out / 'run_summary.json').read_text())
  assert summary['model'] == 'two_convs' and summary['class_names'] == ['background', 'thing']
  assert summary['data']['test']['ingested'] > 0 and summary['pushed'].endswith('serving/1')
  # The CLI lists what is registered.
  with pytest.raises(SystemExit):
    cli.main(['run', '--help'])
  shown = ' '.join(capsys.readouterr().out.split())
  assert 'flat (pictures/ beside labels/)' in shown
  assert 'two_convs (two convolutions, 32 px)' in shown
