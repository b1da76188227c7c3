"""Small QKeras trigger models l1ad never trained, shaped after hls4ml's ``test/pytest/test_qkeras.py`` cases.

Each entry of :data:`BUILT` is (builder, options of ``l1ad build``/``import`` for the bare .h5); :data:`REFUSED`
maps builders that must be refused to the words the one-line error must contain (the layer's name and why).
Weights are seeded and biases moved away from zero so every term matters; batch-norm statistics are set to
non-trivial values so folding is exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from l1ad import _compat


def _finish(m: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if getattr(layer, "bias", None) is not None and getattr(layer, "use_bias", True):
            layer.bias.assign(rng.uniform(-0.5, 0.5, layer.bias.shape).astype("float32"))
        if type(layer).__name__ == "BatchNormalization":
            c = layer.moving_mean.shape
            layer.moving_mean.assign(rng.uniform(-0.5, 0.5, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, c).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            layer.beta.assign(rng.uniform(-0.3, 0.3, c).astype("float32"))
    return m


def _kq(bits: int = 6, integer: int = 0, alpha: Any = 1) -> Any:
    return _compat.qkeras().quantized_bits(bits, integer, alpha=alpha)


# ------------------------------------------------------------------------------------------------ built
def dense_alpha1(name: str = "dense_alpha1") -> Any:
    """test_single_dense_activation_exact (bits 4, alpha 1): input quantizer -> QDense(16) -> quantized_relu(4,0)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(1)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(4, 0, alpha=1), input_shape=(16,), name="inp_quant"),
        qk.QDense(16, kernel_quantizer=_kq(4, 0), bias_quantizer=_kq(4, 0), kernel_initializer="lecun_uniform",
                  name="fc1"),
        qk.QActivation(qk.quantized_relu(4, 0), name="relu1"),
    ], name=name)
    return _finish(m, 1)


def dense_auto_po2(name: str = "dense_auto_po2") -> Any:
    """The same with alpha='auto_po2' kernels (per-channel power-of-two scales)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(2)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(6, 0, alpha=1), input_shape=(16,), name="inp_quant"),
        qk.QDense(12, kernel_quantizer=_kq(4, 0, "auto_po2"), bias_quantizer=_kq(6, 0), name="fc1"),
        qk.QActivation(qk.quantized_relu(6, 2), name="relu1"),
        qk.QDense(4, kernel_quantizer=_kq(5, 0, "auto_po2"), bias_quantizer=_kq(6, 0), name="fc2"),
    ], name=name)
    for layer in m.layers:  # spread the channel magnitudes so the po2 scales differ
        if hasattr(layer, "kernel"):
            k = layer.kernel.numpy()
            layer.kernel.assign(k * np.geomspace(0.05, 3.0, k.shape[-1]).astype("float32"))
    return _finish(m, 2)


def dense_quantizer_strings(name: str = "dense_quantizer_strings") -> Any:
    """test_qactivation_kwarg / test_quantizer_parsing: quantizers given as strings, activation= inside QDense,
    no input quantizer (inputs from --input-precision, default ap_fixed<16,6>)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(3)
    inp = keras.layers.Input((10,), name="x")
    h = qk.QDense(10, activation="quantized_relu(4,0)", kernel_quantizer="quantized_bits(4,0,alpha=1)",
                  bias_quantizer="quantized_bits(4,0,alpha=1)", kernel_initializer="lecun_uniform", name="qdense")(inp)
    h = qk.QDense(3, activation="quantized_bits(8,2)", kernel_quantizer="quantized_bits(6,1,alpha=1)",
                  bias_quantizer="quantized_bits(6,1,alpha=1)", name="out")(h)
    return _finish(keras.Model(inp, h, name=name), 3)


def relu_integers(name: str = "relu_integers") -> Any:
    """quantized_relu(bits, integer) with integer 8 (> bits), 6 (= bits), 1 and 0 (the output quantizer)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(4)
    init = keras.initializers.RandomUniform(-1.5, 1.5)
    layers: list[Any] = [qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(8,), name="inq")]
    for i, integer in enumerate((8, 6, 1)):
        layers.append(qk.QDense(6, kernel_quantizer=_kq(6, 2), bias_quantizer=_kq(6, 0), name=f"d{i}",
                                kernel_initializer=init))
        layers.append(qk.QActivation(qk.quantized_relu(6, integer), name=f"relu_i{integer}"))
    layers.append(qk.QDense(2, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 1), name="mu", kernel_initializer=init))
    layers.append(qk.QActivation(qk.quantized_relu(4, 0), name="relu_i0"))
    return _finish(keras.Sequential(layers, name=name), 4)


def signed_activations(name: str = "signed_activations") -> Any:
    """quantized_bits(bits, integer) as signed hidden activations (incl. symmetric and 0 fraction bits)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(5)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(10, 4, alpha=1), input_shape=(12,), name="inq"),
        qk.QDense(8, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="d0"),
        qk.QActivation(qk.quantized_bits(8, 2), name="act0"),
        qk.QDense(8, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="d1"),
        qk.QActivation(qk.quantized_bits(6, 5, symmetric=1), name="act1"),
        qk.QDense(4, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="d2"),
    ], name=name)
    return _finish(m, 5)


def keras_activations(name: str = "keras_activations") -> Any:
    """Float ReLU/linear Activation layers and ReLU() between quantized layers (exact: no rounding)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(6)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 2, alpha=1), input_shape=(10,), name="inq"),
        qk.QDense(8, kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), activation="relu", name="d0"),
        qk.QActivation("quantized_relu(6,2)", name="q0"),
        qk.QDense(6, kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), name="d1"),
        keras.layers.Activation("relu", name="relu1"),
        qk.QDense(6, kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), name="d2"),
        keras.layers.ReLU(name="relu2"),
        keras.layers.Dropout(0.2, name="drop"),
        qk.QDense(1, kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), activation="linear", name="logit"),
        keras.layers.Activation("linear", name="lin"),
    ], name=name)
    return _finish(m, 6)


def autoencoder(name: str = "autoencoder") -> Any:
    """ADC2021-style dense AE with the squared-error score against the quantized input."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(7)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(12,), name="inq"),
        qk.QDense(6, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 1), name="enc"),
        qk.QActivation(qk.quantized_relu(8, 3), name="enc_relu"),
        qk.QDense(3, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 1), name="latent"),
        qk.QActivation(qk.quantized_relu(8, 3), name="lat_relu"),
        qk.QDense(12, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 1), name="recon"),
    ], name=name)
    return _finish(m, 7)


def gt_encoder(name: str = "gt_encoder") -> Any:
    """AXOL1TL-like encoder on the 57 GT words without an input quantizer (--encoding gt --shift 3)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(8)
    m = keras.Sequential([
        qk.QDense(16, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 2), input_shape=(57,), name="enc1",
                  activation="quantized_relu(10,6)"),
        qk.QDense(8, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 2), name="enc2",
                  activation="quantized_relu(10,6)"),
        qk.QDense(4, kernel_quantizer=_kq(6, 1), bias_quantizer=_kq(6, 2), name="mu"),
    ], name=name)
    return _finish(m, 8)


def conv1d_maxpool(name: str = "conv1d_maxpool") -> Any:
    """b-tag-like: QConv1D (pointwise + k=3 with an alpha='auto_po2' kernel) -> quantized_relu -> MaxPooling1D ->
    Flatten -> QDense logit."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(9)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(8, 3), name="inq"),
        qk.QConv1D(4, 1, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="pw",
                   activation="quantized_relu(8,3)"),
        qk.QConv1D(4, 3, kernel_quantizer=_kq(5, 0, "auto_po2"), bias_quantizer=_kq(6, 0), name="c3"),
        qk.QActivation(qk.quantized_relu(8, 3), name="r3"),
        keras.layers.MaxPooling1D(2, name="pool"),
        keras.layers.Flatten(name="flat"),
        qk.QDense(1, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="logit"),
    ], name=name)
    k = m.get_layer("c3").kernel  # different magnitudes per output channel: different power-of-two scales
    k.assign(k.numpy() * np.array([0.1, 0.4, 1.0, 2.5], np.float32))
    return _finish(m, 9)


def conv1d_same_avgpool(name: str = "conv1d_same_avgpool") -> Any:
    """QConv1D with padding='same' and stride 2, AveragePooling1D(2), GlobalMaxPooling1D, two outputs."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(10)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(9, 2), name="inq"),
        qk.QConv1D(4, 3, padding="same", kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="c0",
                   activation="quantized_relu(8,3)"),
        keras.layers.AveragePooling1D(2, name="avg"),
        qk.QConv1D(3, 2, strides=2, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="c1"),
        keras.layers.GlobalMaxPooling1D(name="gmax"),
        qk.QDense(2, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="out"),
    ], name=name)
    return _finish(m, 10)


def conv2d_calo(name: str = "conv2d_calo") -> Any:
    """Calorimeter-image trigger: QConv2D 3x3 -> quantized_relu -> MaxPooling2D -> Flatten -> QDense logit."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(11)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_relu(8, 4), input_shape=(6, 6, 1), name="inq"),
        qk.QConv2D(3, (3, 3), kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="c0",
                   activation="quantized_relu(8,4)"),
        keras.layers.MaxPooling2D((2, 2), name="pool"),
        keras.layers.Flatten(name="flat"),
        qk.QDense(1, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="logit"),
    ], name=name)
    return _finish(m, 11)


def conv2d_avg_gap(name: str = "conv2d_avg_gap") -> Any:
    """QConv2D padding='same' and strides, AveragePooling2D, GlobalAveragePooling2D; Σ squares score."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(12)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(8, 8, 2), name="inq"),
        qk.QConv2D(4, (3, 3), padding="same", kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), name="c0",
                   activation="quantized_relu(6,3)"),
        keras.layers.AveragePooling2D((2, 2), name="avg"),
        qk.QConv2D(3, (2, 2), strides=(2, 2), kernel_quantizer=_kq(5, 0), bias_quantizer=_kq(5, 0), name="c1",
                   activation="quantized_relu(6,3)"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
    ], name=name)
    return _finish(m, 12)


def qconv2d_batchnorm(name: str = "qconv2d_batchnorm") -> Any:
    """test_qconv2dbn: QConv2DBatchnorm (BN folded by QKeras before quantization), then a QDense."""
    keras, qk = _compat.keras(), _compat.qkeras()
    from qkeras.qconv2d_batchnorm import QConv2DBatchnorm

    keras.utils.set_random_seed(13)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6, 6, 1), name="inq"),
        QConv2DBatchnorm(4, kernel_size=(3, 3), kernel_quantizer="quantized_bits(8,0,alpha=1)",
                         bias_quantizer="quantized_bits(8,2,alpha=1)", activation="quantized_relu(8,2)",
                         name="convbn"),
        keras.layers.Flatten(name="flat"),
        qk.QDense(2, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="out"),
    ], name=name)
    bn = m.get_layer("convbn").batchnorm
    rng = np.random.default_rng(13)
    m(np.zeros((1, 6, 6, 1), np.float32))
    bn.moving_mean.assign(rng.uniform(-0.3, 0.3, 4).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 4).astype("float32"))
    return m


def dense_batchnorm(name: str = "dense_batchnorm") -> Any:
    """QDense -> BatchNormalization -> QActivation(quantized_relu): BN kept as a proven fixed-point scale."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(14)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(10,), name="inq"),
        qk.QDense(8, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="d0"),
        keras.layers.BatchNormalization(name="bn0"),
        qk.QActivation(qk.quantized_relu(8, 3), name="r0"),
        qk.QDense(3, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="d1"),
    ], name=name)
    return _finish(m, 14)


def conv1d_batchnorm(name: str = "conv1d_batchnorm") -> Any:
    """QConv1D -> BatchNormalization -> ReLU -> quantized_relu, pooling, logit."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(15)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6, 3), name="inq"),
        qk.QConv1D(4, 2, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="c0"),
        keras.layers.BatchNormalization(name="bn0"),
        keras.layers.Activation("relu", name="relu0"),
        qk.QActivation(qk.quantized_relu(8, 3), name="q0"),
        keras.layers.GlobalMaxPooling1D(name="gmax"),
        qk.QDense(1, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="logit"),
    ], name=name)
    return _finish(m, 15)


def quantizer_zoo(name: str = "quantizer_zoo") -> Any:
    """test_quantizer: quantizers hls4ml checks (quantized_bits(10,5), (8,4), (4,2), quantized_relu(10,5), (8,4))
    as one chain on --input-precision ap_fixed<12,6> words, then a QDense."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(16)
    m = keras.Sequential([
        qk.QActivation(qk.quantized_bits(10, 5, alpha=1), input_shape=(6,), name="q_10_5"),
        qk.QActivation(qk.quantized_bits(8, 4), name="q_8_4"),
        qk.QActivation(qk.quantized_relu(10, 5), name="r_10_5"),
        qk.QActivation(qk.quantized_relu(8, 4), name="r_8_4"),
        qk.QActivation(qk.quantized_bits(4, 2), name="q_4_2"),
        qk.QDense(2, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="out"),
    ], name=name)
    return _finish(m, 16)


def deep_dense(name: str = "deep_dense") -> Any:
    """hls4ml's jet-tagging example shape (16 -> 64 -> 32 -> 32 -> 5) with 6-bit weights."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(17)
    layers: list[Any] = [qk.QActivation(qk.quantized_bits(12, 4, alpha=1), input_shape=(16,), name="inq")]
    for i, n in enumerate((64, 32, 32)):
        layers += [qk.QDense(n, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name=f"fc{i + 1}"),
                   qk.QActivation(qk.quantized_relu(6, 0), name=f"relu{i + 1}")]
    layers.append(qk.QDense(5, kernel_quantizer=_kq(6, 0), bias_quantizer=_kq(6, 0), name="output"))
    return _finish(keras.Sequential(layers, name=name), 17)


BUILT: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "dense_alpha1": (dense_alpha1, {}),
    "dense_auto_po2": (dense_auto_po2, {}),
    "dense_quantizer_strings": (dense_quantizer_strings, {}),
    "relu_integers": (relu_integers, {}),
    "signed_activations": (signed_activations, {"score": "sum_squares"}),
    "keras_activations": (keras_activations, {}),
    "autoencoder": (autoencoder, {"score": "squared_error"}),
    "gt_encoder": (gt_encoder, {"encoding": "gt", "shift": "3"}),
    "conv1d_maxpool": (conv1d_maxpool, {}),
    "conv1d_same_avgpool": (conv1d_same_avgpool, {}),
    "conv2d_calo": (conv2d_calo, {}),
    "conv2d_avg_gap": (conv2d_avg_gap, {}),
    "qconv2d_batchnorm": (qconv2d_batchnorm, {}),
    "dense_batchnorm": (dense_batchnorm, {}),
    # at 240 MHz the synthesized stage 2 (batch-norm multipliers after the conv) needs 4.22 ns of 4.13: the build
    # rightly exits 1 naming the stage; at 230 MHz (4.31 ns) it meets the clock in 9 cycles = 39.1 ns
    "conv1d_batchnorm": (conv1d_batchnorm, {"clock_mhz": "230"}),
    "quantizer_zoo": (quantizer_zoo, {"input_precision": "ap_fixed<12,6>"}),
    # a deep net that does not fit the 50 ns trigger budget: 11 cycles = 55.0 ns at 200 MHz (stages cut so that the
    # synthesized depth meets the clock); built and simulated against a 60 ns budget, as a user would set it
    "deep_dense": (deep_dense, {"clock_mhz": "200", "budget_ns": "60"}),
}


# ------------------------------------------------------------------------------------------------ refused
def float_dense(name: str = "float_dense") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6,), name="inq"),
                             keras.layers.Dense(2, name="plain")], name=name)


def lstm(name: str = "lstm") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(5, 2), name="inq"),
                             qk.QLSTM(4, kernel_quantizer=_kq(8, 0), recurrent_quantizer=_kq(8, 0),
                                      bias_quantizer=_kq(8, 0), name="rnn")], name=name)


def tanh_quantizer(name: str = "tanh_quantizer") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6,), name="inq"),
                             qk.QDense(3, kernel_quantizer=_kq(), bias_quantizer=_kq(), name="d0"),
                             qk.QActivation(qk.quantized_tanh(8), name="squash")], name=name)


def sigmoid_quantizer(name: str = "sigmoid_quantizer") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6,), name="inq"),
                             qk.QDense(1, kernel_quantizer=_kq(), bias_quantizer=_kq(),
                                       activation=qk.quantized_sigmoid(6), name="prob")], name=name)


def custom_layer(name: str = "custom_layer") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()

    class Doubler(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return 2.0 * x

    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6,), name="inq"),
                             Doubler(name="doubler"),
                             qk.QDense(1, kernel_quantizer=_kq(), bias_quantizer=_kq(), name="logit")], name=name)


def auto_alpha(name: str = "auto_alpha") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6,), name="inq"),
                             qk.QDense(2, kernel_quantizer=_kq(4, 0, "auto"), bias_quantizer=_kq(), name="fc")],
                            name=name)


def binary_weights(name: str = "binary_weights") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QDense(10, input_shape=(10,), kernel_quantizer=qk.binary(),
                                       bias_quantizer=_kq(5, 2), name="dense"),
                             qk.QActivation("binary_tanh", name="act")], name=name)


def average_of_three(name: str = "average_of_three") -> Any:
    keras, qk = _compat.keras(), _compat.qkeras()
    return keras.Sequential([qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(6, 2), name="inq"),
                             keras.layers.AveragePooling1D(3, name="avg3"), keras.layers.Flatten(name="flat"),
                             qk.QDense(1, kernel_quantizer=_kq(), bias_quantizer=_kq(), name="logit")], name=name)


REFUSED: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {
    "float_dense": (float_dense, ("plain", "Dense", "float")),
    "lstm": (lstm, ("rnn", "QLSTM", "not supported")),
    "tanh_quantizer": (tanh_quantizer, ("squash", "quantized_tanh")),
    "sigmoid_quantizer": (sigmoid_quantizer, ("prob", "quantized_sigmoid")),
    "custom_layer": (custom_layer, ("doubler", "Doubler", "custom")),
    "auto_alpha": (auto_alpha, ("fc", "alpha='auto'")),
    "binary_weights": (binary_weights, ("dense", "binary")),
    "average_of_three": (average_of_three, ("avg3", "not a power of two")),
}
