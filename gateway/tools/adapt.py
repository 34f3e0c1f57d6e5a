"""``ecg-adapt RECORD --out FILE.npz``: fit a patient's head from a WFDB record with beat annotations.

    ecg-adapt ../shared/data/mitdb/223 --minutes 5 --model gateway/models/aami5.tflite --out alice.npz
    ecg-adapt rec --annotator ann --from 600 --to 900 --patient alice --out /var/lib/ecg-gateway/adaptations/alice.npz

The labelled span is the first ``--minutes`` (default 5) or ``--from S --to
S`` seconds of the record.  The head is fitted for the model given (default
the shipped one of ``--scheme``), and only that model will use it
(``ecg-analyze --adaptation FILE``; the gateway's
``[classifier] adaptation_dir``, where the file must be named
``<patient>.npz``).  See :mod:`gateway.classify.adapt` for what is fitted.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..errors import SignalError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-adapt", description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="WFDB record path without extension")
    parser.add_argument("--out", required=True, help="the adaptation file to write (.npz)")
    parser.add_argument("--annotator", default="atr", help="annotation file extension with the labels (default atr)")
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--minutes", type=float, help="label the first MINUTES of the record (default 5)")
    span.add_argument("--from", dest="start", type=float, metavar="S", help="labelled span start, seconds")
    parser.add_argument("--to", dest="stop", type=float, metavar="S", help="labelled span end, seconds (with --from)")
    parser.add_argument("--model", help="a .tflite model with its .json (default: the shipped one)")
    parser.add_argument("--scheme", default=None, help="label scheme of the shipped model (default seed8)")
    parser.add_argument("--lead", metavar="NAME|INDEX", help="the lead, by header name or 0-based index")
    parser.add_argument("--patient", help="patient id stored in the file (default: the record name)")
    args = parser.parse_args(argv)
    if args.stop is not None and args.start is None:
        parser.error("--to needs --from")
    start, stop = (args.start, args.stop) if args.start is not None else (0.0, 60.0 * (args.minutes or 5.0))
    from ..classify.adapt import AdaptationError
    from ..classify.adapt_record import fit_from_record
    from ..classify.model import ModelError, load_model

    try:
        classifier = load_model(args.model, args.scheme)
        path, head = fit_from_record(args.record, classifier, args.out, annotator=args.annotator, start_s=start,
                                     stop_s=stop, lead=args.lead, patient=args.patient,
                                     created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    except (AdaptationError, ModelError, SignalError, FileNotFoundError, ValueError) as e:
        print(f"ecg-adapt: {e}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{c} {n}" for c, n in head.info["counts"].items() if n)
    left = head.info["source"]["left_out_symbols"]
    print(f"{head.info['patient']}: fitted on {head.info['beats']} beats ({counts}) of {start:g}.."
          f"{'end' if stop is None else f'{stop:g}'} s for model {classifier.version}"
          + (f"; left out (no class in the scheme): {left}" if left else "")
          + ("" if head.info["converged"] else "; the fit did not converge fully"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
