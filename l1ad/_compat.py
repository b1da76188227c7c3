"""The one place where l1ad adapts the Keras/TensorFlow environment. Import it before TensorFlow.

Why this exists (toolchain facts verified on the project machines):

* QKeras 0.9 only works with Keras 2. TensorFlow 2.21 ships Keras 3 as ``keras``; the Keras 2 code lives in
  the ``tf_keras`` package and TensorFlow uses it when ``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is
  imported.
* hls4ml 1.3 selects its Keras-3 parser when ``import keras`` gives Keras 3. For QKeras models it must see
  Keras 2, so ``sys.modules['keras']`` is pointed at ``tf_keras`` before hls4ml is imported.
* hls4ml 1.3 still calls ``np.product`` (gone in NumPy 2) when it writes power-of-two weight scales
  (``alpha='auto_po2'``); :func:`hls4ml` restores the alias.

Every l1ad module that needs TensorFlow, QKeras or hls4ml calls :func:`tensorflow`, :func:`qkeras` or
:func:`hls4ml` from here instead of importing them directly, so the order above always holds.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["hls4ml", "keras", "qkeras", "tensorflow"]


def _alias_keras_to_tf_keras() -> ModuleType:
    import tf_keras

    sys.modules["keras"] = tf_keras
    return tf_keras


def tensorflow() -> ModuleType:
    """TensorFlow with the legacy (Keras 2) ``tf.keras``."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("TensorFlow was imported before l1ad._compat set TF_USE_LEGACY_KERAS=1")
    import tensorflow as tf

    return tf


def keras() -> ModuleType:
    """Keras 2 (the ``tf_keras`` package), also registered as ``keras`` for hls4ml/QKeras."""
    tensorflow()
    return _alias_keras_to_tf_keras()


def qkeras() -> ModuleType:
    keras()
    import qkeras as qk

    return qk


def hls4ml() -> ModuleType:
    keras()
    import numpy as np

    if not hasattr(np, "product"):  # hls4ml 1.3 writes power-of-two (alpha='auto_po2') scales with np.product,
        np.product = np.prod  # type: ignore[attr-defined]  # removed in NumPy 2
    import hls4ml as h

    return h
