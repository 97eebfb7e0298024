"""petseg: a TFX pipeline from a folder of images and masks to a released segmentation model."""
import os

# TFT and TFMA need Keras 2, and TensorFlow reads this once, at its first import. Every
# petseg entry point and module file imports this package before TensorFlow.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
