"""Label schemes: which MIT-BIH beat symbols a model learns, and as which class.

The dataset cache keeps the raw MIT symbols, so a scheme is applied only
when a split is assembled and both schemes share one cache.

* ``seed8`` - the seed thesis' eight classes, one per symbol; every other
  beat type is left out of training and evaluation.
* ``aami5`` - the AAMI EC57 classes used by the inter-patient literature
  (de Chazal et al. 2004): N = N L R e j, S = A a J S, V = V E, F = F,
  Q = / f Q.  Ventricular flutter waves (``!``) are not beats in EC57 and
  are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.signal.matching import FLUTTER_WAVE, REFERENCE_BEATS

#: Annotation symbols that mark a QRS complex (or a flutter wave) in MIT-BIH
#: reference files; a detection is matched only against these.
REFERENCE_BEAT_SYMBOLS = REFERENCE_BEATS | {FLUTTER_WAVE}


@dataclass(frozen=True)
class Scheme:
    """A label scheme: class names in model output order and the symbols in each."""

    name: str
    classes: tuple[str, ...]
    members: dict[str, tuple[str, ...]]

    def symbol_to_index(self) -> dict[str, int]:
        """MIT symbol -> class index, for the symbols this scheme keeps."""
        return {sym: i for i, cls in enumerate(self.classes) for sym in self.members[cls]}

    def encode(self, symbols: np.ndarray | list[str]) -> np.ndarray:
        """Class index of each MIT symbol, ``-1`` for symbols the scheme leaves out."""
        table = self.symbol_to_index()
        return np.array([table.get(str(s), -1) for s in symbols], dtype=np.int64)

    def describe(self) -> str:
        """One line per class, e.g. ``S: A a J S``, for reports."""
        return "\n".join(f"{cls}: {' '.join(self.members[cls])}" for cls in self.classes)


SCHEMES: dict[str, Scheme] = {
    "seed8": Scheme(
        "seed8",
        ("N", "L", "R", "A", "V", "!", "E", "/"),
        {s: (s,) for s in ("N", "L", "R", "A", "V", "!", "E", "/")},
    ),
    "aami5": Scheme(
        "aami5",
        ("N", "S", "V", "F", "Q"),
        {"N": ("N", "L", "R", "e", "j"), "S": ("A", "a", "J", "S"), "V": ("V", "E"),
         "F": ("F",), "Q": ("/", "f", "Q")},
    ),
}


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``, or a ValueError listing the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; expected one of {sorted(SCHEMES)}") from None
