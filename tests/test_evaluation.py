"""The NumPy scoring against hand-made masks."""
import numpy as np
import pytest

from petseg.core import confusion as confusion_lib
from petseg.core.labels import IGNORE_ID


def test_scores_on_hand_made_masks():
  truth = np.array([[0, 0, 1, 1], [0, 2, IGNORE_ID, IGNORE_ID]])
  predicted = np.array([[0, 1, 1, 1], [0, 0, 3, 0]])
  confusion = np.zeros((5, 5), np.int64)
  confusion_lib.add(confusion, truth, predicted)
  result = confusion_lib.scores(confusion, ['a', 'b', 'c', 'd', 'e'])
  # a: tp 2, fp 1 (the 2 predicted as 0), fn 1 -> 2/4. b: tp 2, fp 1 -> 2/3.
  # c: tp 0, fn 1 -> 0. d: predicted only where ignored -> absent. e: absent.
  assert result['per_class_iou'] == pytest.approx({'a': 0.5, 'b': 2 / 3, 'c': 0.0,
                                                   'd': None, 'e': None})
  assert result['mean_iou'] == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
  assert result['pixel_accuracy'] == pytest.approx(4 / 6)
