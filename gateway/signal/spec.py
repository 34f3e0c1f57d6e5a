"""Constants that define what the model sees.

Training, conversion and the gateway all read these; a model's metadata
records them and the gateway refuses a model built for different values.
Bump ``CHAIN_VERSION`` whenever any signal step changes its output.
"""

#: Sample rate the whole chain runs at: the MIT-BIH rate.
MODEL_FS = 360
#: Beat window around each R peak, in samples at ``MODEL_FS`` (the seed's
#: window; it shows the neighbouring beats and so the rhythm).
WINDOW_BEFORE = 256
WINDOW_AFTER = 256
WINDOW = WINDOW_BEFORE + WINDOW_AFTER
#: Side of the square grayscale beat image.
IMAGE_SIZE = 128
#: Version of the filter, detector, window and rasterizer as a whole.
CHAIN_VERSION = "chain-1"
