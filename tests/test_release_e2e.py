"""The release gate end to end: blessing, the conditional push, the baseline, the cache,
and using the released model (predict, evaluate), on the shared trained run."""
import json
import os
import re
import shutil

from ml_metadata.proto import metadata_store_pb2
import numpy as np
from PIL import Image
import pytest

from petseg import cli
from petseg.core import bootstrap
from petseg.pipeline import local_runner
from petseg.pipeline import metadata
from petseg.registry import log as release_log
from petseg.registry import versions as release_registry
from tests.helpers import TRAINING_FLAGS, continuation

pytestmark = pytest.mark.slow
CACHED = metadata_store_pb2.Execution.CACHED
COMPLETE = metadata_store_pb2.Execution.COMPLETE


def _summary(out):
  with open(out / 'run_summary.json') as f:
    return json.load(f)


def _versions(serving):
  """What the serving directory holds but the registry's own entries (staging left behind
  too)."""
  return sorted(n for n in os.listdir(serving) if n not in release_registry.OWN_ENTRIES)


# The trained run has 16 test images, too few for the default minimum (40): the runs here
# judge the whole split (16) and leave the species slices (8 each) unjudged.
JUDGE_16 = ('--min-slice-images', '10')


def _run(root, continued, *flags):
  """Runs the pipeline again on the trained run's data, in a continuation of it."""
  out, where = continued
  args = ['run', '--dataset', 'oxford_pets', '--data-dir', str(root / 'data'), *where,
          *TRAINING_FLAGS, *JUDGE_16, *flags]
  assert cli.main(args) == 0  # blessed or not, a run that worked exits 0
  store = metadata.connect(local_runner.metadata_path(str(out)))
  return _summary(out), metadata.run_executions(store, 'petseg')


@pytest.fixture(scope='module')
def runs(trained, tmp_path_factory):
  """The first run, then: unchanged twice; weaker (2 epochs); the same weaker model with
  the gate relaxed (pushed as version 2); a release manager's rollback to version 1; an
  unreachable threshold; a restore of version 2; version 2's data and settings again
  (nothing new), and the same with --retrain."""
  root, _ = trained
  continued = continuation(root, tmp_path_factory.mktemp('continued'))
  out = continued[0]
  serving = out / 'serving'
  first = _summary(root / 'out'), _versions(serving)
  rerun = (*_run(root, continued), _versions(serving))
  rerun_again = (*_run(root, continued), _versions(serving))
  weaker = (*_run(root, continued, '--epochs', '2', '--min-mean-iou', '0'), _versions(serving))
  relaxed = (*_run(root, continued, '--epochs', '2', '--min-mean-iou', '0',
                   '--max-mean-iou-drop', '1', '--max-slice-drop', '1'), _versions(serving))
  assert cli.main(['rollback', '--serving-dir', str(serving), '--to', '1', '--reason',
                   'version 2 is weaker']) == 0
  rolled_back = _versions(serving), release_registry.retired_versions(str(serving))
  unreachable = (*_run(root, continued, '--min-mean-iou', '0.99'), _versions(serving))
  unreachable_page = (out / 'report.html').read_text()
  assert cli.main(['restore', '2', '--serving-dir', str(serving)]) == 0
  restored = _versions(serving)
  # Version 2's data and settings again: nothing new; then the same, told to retrain.
  relaxed_flags = ('--epochs', '2', '--min-mean-iou', '0', '--max-mean-iou-drop', '1',
                   '--max-slice-drop', '1')
  nothing_new = (*_run(root, continued, *relaxed_flags), _versions(serving))
  retrained = (*_run(root, continued, *relaxed_flags, '--retrain'), _versions(serving))
  return {'root': root, 'out': out, 'first': first, 'rerun': rerun, 'rerun_again': rerun_again,
          'weaker': weaker, 'relaxed': relaxed, 'rolled_back': rolled_back,
          'unreachable': unreachable, 'restored': restored, 'nothing_new': nothing_new,
          'retrained': retrained, 'unreachable_page': unreachable_page,
          'log': release_log.read(str(serving)).decisions}


def test_first_run_is_blessed_and_pushed_as_version_1_with_its_record(runs):
  summary, versions = runs['first']
  assert summary['blessed'] and summary['reasons'] == []
  assert summary['baseline'] is None
  assert summary['test']['mean_iou'] > summary['gate']['min_mean_iou'] == 0.4
  assert summary['gate']['max_mean_iou_drop'] is None  # nothing to compare with yet
  assert summary['comparison'] is None
  # 16 test images, fewer than the default minimum: no interval pretends precision.
  assert summary['test']['images'] == 16 and summary['test']['intervals']['mean_iou'] is None
  assert summary['sensitivity']['sentence'] == (
      'With 16 test images (fewer than 40), the mean IoU is too uncertain to judge a '
      'change: add test images.')
  assert versions == ['1']  # no staging directory is left behind
  assert summary['pushed'] == str(runs['root'] / 'out' / 'serving' / '1')
  assert os.path.isfile(os.path.join(summary['pushed'], 'saved_model.pb'))
  record = release_registry.read_record(summary['pushed']).to_json()
  assert record['version'] == 1
  assert {k: record[k] for k in ('test', 'slices', 'gate', 'model', 'training',
                                 'data_fingerprint', 'config_fingerprint', 'pipeline_run')} \
      == {k: summary[k] for k in ('test', 'slices', 'gate', 'model', 'training',
                                  'data_fingerprint', 'config_fingerprint', 'pipeline_run')}
  assert set(summary['test']['per_class_iou']) == {'pet', 'background', 'border'}
  assert set(summary['slices']) == {'species=cat', 'species=dog'}
  assert summary['data']['test'] == {'ingested': 16, 'rejected': 0}
  assert record['dataset'] == 'oxford_pets' and record['rejected_by_reason'] == {}
  with open(os.path.join(summary['pushed'], 'assets.extra', 'model_card.html')) as f:
    card = f.read()
  assert 'unet_xception, version 1' in card and 'Known limits' in card
  assert 'Data: oxford_pets, ' in card and all(
      f'{split} {counts["ingested"]} (+0 rejected)' in card
      for split, counts in summary['data'].items())
  assert all(f'<td style="text-align:left">{name}</td>' in card
             for name in ('overall', 'species=cat', 'species=dog'))


# LatestRelease ran too, in the check just before the run, which took it from the cache.
FROM_THE_REGISTRY_ON = {'Evaluator', 'ReleaseRecord', 'Pusher'}


def test_rerun_evaluates_against_the_released_version_and_does_not_copy_it_again(runs):
  """The first run had no baseline; now the registry holds the model itself as version 1,
  so the steps from the registry on run again, and the rest comes from the cache. Run
  once more, with the registry unchanged, everything comes from the cache."""
  summary, executions, versions = runs['rerun']
  assert {n for n, e in executions.items() if e.last_known_state == COMPLETE} == \
      FROM_THE_REGISTRY_ON
  assert {n for n, e in executions.items() if e.last_known_state == CACHED} == \
      set(executions) - FROM_THE_REGISTRY_ON
  assert summary['blessed']
  assert summary['baseline']['version'] == 1
  assert summary['baseline']['model_path'] == str(runs['out'] / 'serving' / '1')
  assert summary['baseline']['mean_iou'] == pytest.approx(summary['test']['mean_iou'])
  assert summary['test']['mean_iou'] == pytest.approx(runs['first'][0]['test']['mean_iou'])
  # The same model on the same images: every difference is 0, with no room around it.
  assert summary['comparison']['verdict'] == 'no detectable change'
  assert summary['comparison']['interval'] == [0, 0]
  assert summary['comparison']['reasons'] == []
  low, high = summary['test']['intervals']['mean_iou']
  assert 0 <= low < summary['test']['mean_iou'] < high <= 1
  cats = summary['slices']['species=cat']['images']
  assert f'mean_iou on species=cat: too few images to judge (n={cats})' in (
      summary['comparison']['not_judged'])
  # Nothing to refuse in a model against itself: no power is stated.
  margin = summary['sensitivity']['value_margin']
  assert summary['sensitivity']['refused_drop'] is None
  assert summary['sensitivity']['sentence'] == (
      f'With 16 test images, the mean IoU is known to \u00b1{margin:.3f} (95%).')
  assert summary['pushed'] == str(runs['out'] / 'serving' / '1') and versions == ['1']
  again, executions, versions = runs['rerun_again']
  assert {e.last_known_state for e in executions.values()} == {CACHED}
  assert again == summary and versions == ['1']


def test_weaker_model_is_not_pushed_and_says_why(runs):
  summary, executions, versions = runs['weaker']
  assert executions['Trainer'].last_known_state == COMPLETE  # a new model was trained
  assert 'Pusher' not in executions  # the condition skipped it
  assert versions == ['1']
  assert not summary['blessed'] and summary['pushed'] is None
  baseline = summary['baseline']
  assert baseline['mean_iou'] == pytest.approx(runs['first'][0]['test']['mean_iou'])
  assert summary['test']['mean_iou'] < baseline['mean_iou'] - 0.01
  assert summary['comparison']['verdict'] == 'worse'
  reason = summary['reasons'][0]  # the whole split's mean IoU comes first
  said = re.fullmatch(r"mean_iou is (\S+) below the released model's \(95% interval of the "
                      r"drop (\S+) to (\S+); over all checks at once, a drop of at least "
                      r"(\S+)\), more than the allowed drop of 0\.010", reason)
  assert said, reason
  drop = baseline['mean_iou'] - summary['test']['mean_iou']
  assert float(said.group(1)) == pytest.approx(drop, abs=1e-3)
  assert 0.01 < float(said.group(2)) < drop < float(said.group(3))
  assert 0.01 < float(said.group(4)) < drop
  # The power stated: the drop refused 8 times in 10, from the same bound.
  family = summary['comparison']['family']
  assert family['error_rate'] == 0.05 and family['checks'] >= 4
  mean_iou = summary['comparison']['checks'][0]
  refused = 0.01 + (bootstrap.for_images(family['critical_value'], 16) + 0.8416) * (
      mean_iou['spread'])
  assert summary['sensitivity']['refused_drop'] == pytest.approx(refused, abs=1e-4)
  assert summary['sensitivity']['sentence'] == (
      f"With 16 test images, the mean IoU is known to \u00b1"
      f"{summary['sensitivity']['value_margin']:.3f} (95%); a mean-IoU drop of {refused:.3f} "
      "or more below the released model's would be refused 8 times in 10.")
  assert summary['gate']['error_rate'] == 0.05


def test_unreachable_threshold_leaves_the_serving_directory_unchanged(runs):
  summary, executions, versions = runs['unreachable']
  assert executions['Trainer'].last_known_state == CACHED  # only the gate changed
  assert executions['Evaluator'].last_known_state == COMPLETE
  assert versions == ['1'] and summary['pushed'] is None
  assert summary['reasons'] == [
      f'mean_iou {summary["test"]["mean_iou"]:.3f} is below the lower bound 0.990 by '
      f'{0.99 - summary["test"]["mean_iou"]:.3f}']


def test_a_rollback_makes_version_1_the_next_runs_baseline_and_the_log_keeps_it_all(runs):
  summary, executions, versions = runs['relaxed']
  assert summary['blessed'] and summary['comparison']['verdict'] == 'worse'
  assert executions['Trainer'].last_known_state == CACHED  # the weaker run's model
  serving = runs['out'] / 'serving'
  assert summary['pushed'] == str(serving / '2') and versions == ['1', '2']
  assert runs['rolled_back'] == (['1'], [2])  # what TF Serving's policy sees: 1
  assert runs['unreachable'][0]['baseline']['version'] == 1
  assert runs['restored'] == ['1', '2']
  run_ids = [runs[name][0]['pipeline_run'] for name in (
      'first', 'rerun', 'weaker', 'relaxed', 'unreachable')]
  assert [(d.action, d.version, d.pipeline_run) for d in runs['log']] == [
      ('released', 1, run_ids[0]), ('already released', 1, run_ids[1]),
      ('refused', None, run_ids[2]), ('released', 2, run_ids[3]),
      ('rollback', 1, None), ('refused', None, run_ids[4]), ('restore', 2, None),
      ('nothing new', 2, runs['nothing_new'][0]['pipeline_run']),
      ('already released', 2, runs['retrained'][0]['pipeline_run'])]
  weaker = runs['log'][2]
  assert weaker.reasons == runs['weaker'][0]['reasons'] and weaker.baseline == 1
  assert weaker.data_fingerprint == runs['weaker'][0]['data_fingerprint']
  assert weaker.report == runs['weaker'][0]['report'] and os.path.isfile(weaker.report)
  assert runs['log'][4].reasons == ['version 2 is weaker']
  with open(serving / '2' / 'assets.extra' / 'report.html') as f:
    assert 'petseg run: unet_xception' in f.read()  # the run's report, kept with it
  with open(serving / 'index.html') as f:
    page = f.read()
  assert page.count('<tr class="refused">') == 2 and 'version 2 is weaker' in page


def test_a_run_on_the_served_versions_data_and_settings_trains_nothing_unless_told(runs):
  summary, executions, versions = runs['nothing_new']
  served = release_registry.read_record(str(runs['out'] / 'serving' / '2')).to_json()
  assert summary == {
      'pipeline_run': summary['pipeline_run'], 'nothing_new': True, 'served_version': 2,
      'reason': f'nothing new since version 2: data {served["data_fingerprint"][:12]}, '
                f'settings {served["config_fingerprint"][:12]}'}
  assert set(executions) == {'ExampleGen', 'LatestRelease'}  # the rest skipped
  assert executions['LatestRelease'].last_known_state == COMPLETE
  assert versions == ['1', '2']
  decision = runs['log'][-2]
  assert decision.reasons == [summary['reason']] and decision.model == served['model']
  assert decision.config_fingerprint == served['config_fingerprint']
  # Told to retrain, the run goes on: the same model (from the cache) is version 2 already.
  retrained, executions, versions = runs['retrained']
  assert executions['Evaluator'].last_known_state == COMPLETE
  assert retrained['baseline']['version'] == 2 and versions == ['1', '2']
  assert retrained['config_fingerprint'] == served['config_fingerprint']


def test_report_is_an_artifact_of_the_run_in_one_file(runs):
  summary, _, _ = runs['unreachable']
  assert '/pipeline_root/ReleaseRecord/report/' in summary['report']
  with open(summary['report']) as f:
    page = f.read()
  assert runs['unreachable_page'] == page  # the copy petseg run left in the output directory
  assert 'Not blessed: mean_iou' in page and 'Confusion matrix' in page
  assert 'Against the released model' in page and 'no detectable change' in page
  assert 'the mean IoU is known to' in page and 'too few images to judge (n=' in page
  assert '<h2>Model card</h2>' in page and 'species=cat' in page
  assert '<svg' in page and 'val_mean_iou' in page
  for i in range(8):
    for kind in ('image', 'truth', 'predicted'):
      assert '<img src="data:image/png;base64,' in page and f'alt="sample{i} {kind}"' in page


def test_predict_writes_masks_at_each_images_own_size(runs, tmp_path, capsys):
  images = sorted((runs['root'] / 'data' / 'images').glob('*.jpg'))[:3]
  assert cli.main(['predict', '--model-dir', str(runs['out'] / 'serving'),
                   *map(str, images), '--output-dir', str(tmp_path)]) == 0
  printed = capsys.readouterr().out
  assert 'serving/2' in printed and 'Release: version 2 of unet_xception' in printed
  for image in images:
    mask = np.asarray(Image.open(tmp_path / f'{image.stem}_mask.png'))
    assert mask.shape == Image.open(image).size[::-1]
    assert set(np.unique(mask)) <= {0, 1, 2}
    overlay = Image.open(tmp_path / f'{image.stem}_overlay.png')
    assert overlay.width >= mask.shape[1] and overlay.height > mask.shape[0]  # + legend


def test_evaluate_scores_the_pushed_model_as_the_pipeline_did(runs, tmp_path, capsys):
  """On a dataset that holds only the scored split, as a new test set does."""
  data = tmp_path / 'new_test_set'
  shutil.copytree(runs['root'] / 'data', data)
  (data / 'annotations' / 'trainval.txt').unlink()
  capsys.readouterr()
  assert cli.main(['evaluate', '--model-dir', str(runs['out'] / 'serving'), '--dataset',
                   'oxford_pets', '--data-dir', str(data), '--split', 'test']) == 0
  printed = json.loads(capsys.readouterr().out)
  served = runs['relaxed'][0]['test']  # version 2, restored
  assert printed['examples'] == 16 and printed['rejected'] == []
  assert printed['release']['version'] == 2
  assert printed['release']['test_mean_iou'] == pytest.approx(served['mean_iou'])
  assert printed['mean_iou'] == pytest.approx(served['mean_iou'])
  assert printed['per_class_iou'] == pytest.approx(served['per_class_iou'])
  assert printed['confusion_matrix'] == served['confusion_matrix']
  # The gate's rule: 16 images are too few for an interval.
  assert printed['intervals']['images'] == 16 and printed['intervals']['mean_iou'] is None
  assert not printed['at_own_size']

  # At each image's own size: every pixel of the original trimaps is scored.
  assert cli.main(['evaluate', '--model-dir', str(runs['out'] / 'serving'), '--dataset',
                   'oxford_pets', '--data-dir', str(data), '--at-own-size']) == 0
  own = json.loads(capsys.readouterr().out)
  assert own['at_own_size'] and own['examples'] == 16
  test_images = [line.split()[0] for line in
                 (data / 'annotations' / 'test.txt').read_text().splitlines()]
  assert len(test_images) == 16
  assert sum(map(sum, own['confusion_matrix'])) == sum(
      np.prod(Image.open(data / 'images' / f'{name}.jpg').size) for name in test_images)
