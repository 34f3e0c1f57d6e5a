"""The value checks every settings slice uses, so a bad ``[alerts]`` key is named the same way everywhere."""

from __future__ import annotations


def positive(settings: object, *names: str) -> None:
    for name in names:
        if not getattr(settings, name) > 0:
            raise ValueError(f"{name}: must be > 0, got {getattr(settings, name)!r}")


def whole(settings: object, *names: str) -> None:
    for name in names:
        value = getattr(settings, name)
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name}: must be a whole number >= 1, got {value!r}")


def chain(settings: object, cls: type) -> None:
    """Run the next slice's checks in the MRO: the slices of :class:`AlertConfig` check cooperatively."""
    after = getattr(super(cls, settings), "__post_init__", None)
    if after is not None:
        after()
