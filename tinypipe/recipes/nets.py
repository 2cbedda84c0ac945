"""Keras model builders shared by the recipes, restricted to ops the int8 MCU runtime runs.

Every builder takes `batch` (None while training, 1 for export): a fixed batch of 1 makes the
converter emit a single RESHAPE where a dynamic batch needs SHAPE/STRIDED_SLICE/PACK.
"""

from __future__ import annotations

import keras
from keras import layers


def small_cnn(
    shape: tuple[int, ...],
    n_out: int,
    batch: int | None,
    filters: tuple[int, ...] = (16, 32),
    dropout: float = 0.0,
) -> keras.Model:
    """conv3x3+ReLU -> maxpool, per entry of `filters`, then a dense softmax classifier."""
    x = inp = keras.Input(shape, batch_size=batch)
    for f in filters:
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inp, layers.Dense(n_out, activation="softmax")(x))


def mlp(
    shape: tuple[int, ...],
    n_out: int,
    batch: int | None,
    units: tuple[int, ...],
    activation: str | None = None,
) -> keras.Model:
    """Dense+ReLU per entry of `units`, then a dense output layer."""
    x = inp = keras.Input(shape, batch_size=batch)
    if len(shape) > 1:
        x = layers.Flatten()(x)
    for u in units:
        x = layers.Dense(u, activation="relu")(x)
    return keras.Model(inp, layers.Dense(n_out, activation=activation)(x))


def ds_cnn(
    shape: tuple[int, ...],
    n_out: int,
    batch: int | None,
    channels: int = 64,
    blocks: int = 4,
    first_kernel: tuple[int, int] = (10, 4),
    dropout: float = 0.2,
) -> keras.Model:
    """The MLPerf Tiny KWS DS-CNN: conv -> `blocks` x (depthwise 3x3 + pointwise 1x1) -> avg pool -> dense.

    BatchNorm folds into the convolutions at conversion, ReLU fuses, so the .tflite holds only
    CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED and SOFTMAX.
    """
    x = inp = keras.Input(shape, batch_size=batch)
    x = layers.Conv2D(channels, first_kernel, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    if dropout:
        x = layers.Dropout(dropout)(x)
    for _ in range(blocks):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(channels, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(n_out, activation="softmax")(x))
