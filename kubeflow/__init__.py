"""Kubeflow Pipelines v2: compiling the pipeline, and the image its steps run in."""
