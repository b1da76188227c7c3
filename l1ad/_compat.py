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

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["hls4ml", "keras", "qkeras", "tensorflow"]


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """Hold back what TensorFlow's C++ runtime writes to file descriptor 2 while it is imported.

    TF 2.21 logs through absl before ``absl::InitializeLog()`` (oneDNN, CUDA-stub lines), which
    ``TF_CPP_MIN_LOG_LEVEL`` does not reach, so every command that loads TensorFlow would print ~6 lines
    before l1ad's own. The text is captured into a temporary file and dropped, or replayed on stderr if the
    import fails or ``L1AD_DEBUG``/``L1AD_TF_LOGS`` is set."""
    if os.environ.get("L1AD_DEBUG") or os.environ.get("L1AD_TF_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreter): nothing to hold back
        yield
        return
    with tempfile.TemporaryFile() as cap:
        os.dup2(cap.fileno(), 2)
        failed = False
        try:
            yield
        except Exception:  # a failed import: show what TensorFlow said (not on Ctrl-C)
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                cap.seek(0)
                sys.stderr.write(cap.read().decode(errors="replace"))


def _quiet_python_logs() -> None:
    import logging
    import warnings

    # tf_keras/QKeras UserWarnings about the legacy .h5 format (the format hls4ml's QKeras reader takes) and
    # quantizer serialization are expected for every model l1ad saves; they would bury l1ad's own output
    warnings.filterwarnings("ignore", category=UserWarning, module=r"tf_keras(\..*)?$")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"qkeras(\..*)?$")

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.WARNING)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass


def _alias_keras_to_tf_keras() -> ModuleType:
    import tf_keras

    sys.modules["keras"] = tf_keras
    return tf_keras


def tensorflow() -> ModuleType:
    """TensorFlow with the legacy (Keras 2) ``tf.keras``."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("TensorFlow was imported before l1ad._compat set TF_USE_LEGACY_KERAS=1")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _native_stderr_quiet():
        import tensorflow as tf

        _quiet_python_logs()
        # device discovery (cuInit on machines without a GPU logs an E-line) happens here, not at the first op
        tf.config.list_physical_devices()
    return tf


def keras() -> ModuleType:
    """Keras 2 (the ``tf_keras`` package), also registered as ``keras`` for hls4ml/QKeras."""
    tensorflow()
    with _native_stderr_quiet():
        return _alias_keras_to_tf_keras()


def qkeras() -> ModuleType:
    keras()
    with _native_stderr_quiet():
        import qkeras as qk

    return qk


def hls4ml() -> ModuleType:
    keras()
    import numpy as np

    if not hasattr(np, "product"):  # hls4ml 1.3 writes power-of-two (alpha='auto_po2') scales with np.product,
        np.product = np.prod  # type: ignore[attr-defined]  # removed in NumPy 2
    with _native_stderr_quiet():
        import hls4ml as h

    return h
