"""Edge ECG gateway: the runtime that runs on the Raspberry Pi.

Only small dependencies live here (numpy, scipy, wfdb, pillow, websockets,
paho-mqtt); TensorFlow is never imported, so the Pi does not need it.  The
signal chain in this package is the single implementation that training
imports too, so the model sees in the field exactly what it saw in training.
"""

__version__ = "0.1.0"
