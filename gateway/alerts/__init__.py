"""The alert policy: one small rule module per kind of alert, in sample arithmetic, plus the ECG strip renderer.

Imports ``gateway.signal`` (constants, rhythm windows, the rasterizer's pen) only; never classify, service or tools, and no clock.
"""
