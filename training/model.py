"""The beat classifier: a small Keras CNN on the 128x128 beat image, sized for a Raspberry Pi core.

Two inputs, in this order: ``beat_image``, float32 ``(None, 128, 128, 1)``
holding pixel values 0..255, and ``context``, float32 ``(None, N_CONTEXT)``,
the features of :mod:`gateway.signal.context` (the beat's RR intervals and QRS
shape against the patient's own recent beats, which the image cannot show).
The first layer rescales the image by 1/255 inside the model.  The int8 converter thus
sees inputs spanning 0..255 and can quantize them with scale 1 and zero
point -128, so the Pi feeds ``uint8 - 128`` with no rounding at all.

Only ops the TFLite int8 kernels support are used: Conv2D, MaxPooling2D,
BatchNormalization (folded into the convolutions at conversion), ReLU,
Flatten, Dense, Dropout (identity at inference) and Softmax.  A strided
5x5 first convolution brings the image to 64x64 at once; four conv/pool
stages reach 4x4 and keep positions (Flatten, not global pooling), because
where the neighbouring R peaks sit in the window encodes the RR intervals
that set premature beats apart.  The context features go through a small dense
layer of their own (so the int8 converter gives them a scale of their
own instead of the image features') and join the image features before
the dense layer.

On patients it has not seen, the image is the weaker witness: the CNN
learns each training patient's morphology, which lets it fit the training
beats without looking at their timing.  ``image_dropout`` therefore
blanks the whole image feature vector of that fraction of training beats
(one Bernoulli draw per beat), so the model must also learn to classify
from the context features alone; at inference it is the identity.

Cost, default widths: about 4.6 M multiply-accumulates and 0.12 M
parameters per beat (:func:`macs`), an int8 file of ~130 KB.
"""

from __future__ import annotations

from gateway.signal.context import N_CONTEXT
from gateway.signal.spec import IMAGE_SIZE

#: Default channel widths of the four convolution stages and the dense layer.
DEFAULT_WIDTHS = (8, 16, 32, 64)
DEFAULT_DENSE = 96
#: Units of the dense layer the context features pass through.
CONTEXT_UNITS = 16


def build_model(n_classes: int, widths: tuple[int, ...] = DEFAULT_WIDTHS, dense: int = DEFAULT_DENSE,
                dropout: float = 0.3, image_dropout: float = 0.0, seed: int = 0):
    """An uncompiled Keras model mapping (beat image, context features) to class probabilities."""
    import keras
    from keras import layers

    if n_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {n_classes}")
    if len(widths) != 4:
        raise ValueError(f"expected 4 convolution widths (128 -> 4 px), got {widths}")
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="beat_image")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit")(inputs)
    for stage, width in enumerate(widths):
        kernel, strides = (5, 2) if stage == 0 else (3, 1)
        x = layers.Conv2D(width, kernel, strides=strides, padding="same", use_bias=False,
                          kernel_initializer=init, name=f"conv{stage}")(x)
        x = layers.BatchNormalization(name=f"bn{stage}")(x)
        x = layers.ReLU(name=f"relu{stage}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    if image_dropout > 0:
        x = layers.Dropout(image_dropout, noise_shape=(None, 1), seed=seed + 1, name="image_dropout")(x)
    context = keras.Input((N_CONTEXT,), name="context")
    c = layers.Dense(CONTEXT_UNITS, activation="relu", kernel_initializer=init, name="context_dense")(context)
    x = layers.Concatenate(name="join")([x, c])
    x = layers.Dense(dense, activation="relu", kernel_initializer=init, name="dense")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model([inputs, context], outputs, name="beat_cnn")


def macs(model) -> int:
    """Multiply-accumulates of one forward pass (convolutions and dense layers)."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
