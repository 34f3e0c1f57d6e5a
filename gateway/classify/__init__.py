"""The beat classifier: the int8 TFLite model with its metadata checks, behind small interpreter backends.

Imports ``gateway.signal`` (the chain constants and context features it was trained with) and ``gateway.errors``; never alerts, service or tools.
"""
