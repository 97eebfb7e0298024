"""Pusher: the blessed model and its release record as the registry's next version (see
executor.py for how a version is never seen half-written)."""
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter

from petseg.components.pusher import executor
from petseg.components.release_record import component as release_record


class ServingPusherSpec(standard_component_specs.PusherSpec):
  INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
            executor.SUMMARY_KEY: ChannelParameter(type=release_record.RunSummaryArtifact)}


NODE_ID = 'Pusher'  # the step's id in every pipeline and record


class ServingPusher(base_component.BaseComponent):
  """tfx.components.Pusher to a filesystem, with atomic, sequentially numbered versions
  that carry their release record."""
  SPEC_CLASS = ServingPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
               summary: types.BaseChannel, base_directory: str):
    super().__init__(spec=ServingPusherSpec(
        model=model, model_blessing=model_blessing, summary=summary,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_directory)),
        custom_config=None,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
