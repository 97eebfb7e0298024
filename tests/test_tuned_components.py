"""The Trainer and Evaluator fold their runtime parameters into TFX's own configs."""
import json

import tensorflow_model_analysis as tfma
from tfx.utils import proto_utils

from petseg.components import evaluator
from petseg.components import trainer
from petseg.core import config as config_lib
from petseg.core import labels as labels_lib


def test_training_parameters_replace_the_config_fields():
  folded = trainer.fold_training_parameters({
      'custom_config': json.dumps({'batch_size': 8, 'epochs': 1}), 'run_fn': 'x.run_fn',
      'model_name': 'fcn_vgg16', 'epochs': 12, 'learning_rate': 0.01})
  assert set(folded) == {'custom_config', 'run_fn'}  # TFX's executor sees its own spec
  assert json.loads(folded['custom_config']) == {'batch_size': 8, 'epochs': 12,
                                                 'model': 'fcn_vgg16', 'learning_rate': 0.01}


def test_min_mean_iou_becomes_the_gate_and_nothing_else_changes():
  config = evaluator.eval_config(config_lib.ReleaseConfig(min_class_iou={'pet': 0.3}),
                               labels_lib.oxford_trimap_labels())
  folded = evaluator.fold_min_mean_iou({'eval_config': proto_utils.proto_to_json(config),
                                      'min_mean_iou': 0.77})
  assert set(folded) == {'eval_config'}
  got = proto_utils.json_to_proto(folded['eval_config'], tfma.EvalConfig())
  evaluator.set_min_mean_iou(config, 0.77)
  assert got == config
  gate = got.metrics_specs[0].metrics[0].per_slice_thresholds[0].threshold
  assert gate.value_threshold.lower_bound.value == 0.77
  assert not gate.HasField('change_threshold')  # the executor compares, on intervals
