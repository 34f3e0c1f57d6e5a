"""The signal chain, one implementation for training and the gateway: leads, resampling, filters, R peaks, context features, rhythm windows, lead quality, beat images.

Imports numpy and scipy, ``gateway.errors`` and itself only: never classify, alerts, service or tools, and no socket or clock.
"""
