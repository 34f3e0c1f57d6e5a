"""ecg-analyze RECORD... --report: sections and counts, EDF and CSV inputs agree with WFDB, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gateway.tools import analyze
from gateway.tools.report import load

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mitdb"


def run(capsys, *argv):
    rc = analyze.main([*map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def beats_of(stdout: str) -> int:
    return int(re.match(r"(\d+) beats", stdout).group(1))


def test_report_of_a_fixture_has_the_sections_and_counts(tmp_path, capsys):
    out = tmp_path / "r.html"
    rc, stdout, _ = run(capsys, FIXTURES / "e208", "--report", out)
    assert rc == 0
    page = out.read_text()
    for section in ("id='summary'", "id='heart-rate'", "<svg", "id='beats'", "id='ectopy'", "id='pauses'",
                    "id='af'", "id='vf'", "id='strips'", "data:image/png;base64,"):
        assert section in page
    n = beats_of(stdout)
    import wfdb

    ref = wfdb.rdann(str(FIXTURES / "e208"), "atr")
    assert abs(n - sum(sym in analyze.REFERENCE_BEATS for sym in ref.symbol)) <= 3  # the reference has 157 beats
    ventricular = int(re.search(r"<td>ventricular beats</td><td>(\d+)</td>", page).group(1))
    assert 40 <= ventricular <= 70  # the reference has 50 V (and 17 F)
    total = re.search(r"<tr><th>total</th><th></th><th></th><th></th>(.*?)</tr>", page).group(1)
    assert sum(int(v) for v in re.findall(r"<th>(\d+)</th>", total)) == n
    assert "couplets" in page and "burden" in page  # the policy has the atrial_fibrillation alert


def test_without_an_af_alert_type_the_report_says_not_assessed(tmp_path, capsys, monkeypatch):
    from gateway.tools import report

    monkeypatch.setattr(report, "_policy_has", lambda kind: False)
    rc, _, _ = run(capsys, FIXTURES / "e100", "--report", tmp_path / "r.html")
    assert rc == 0 and "Not assessed" in (tmp_path / "r.html").read_text()


def test_several_records_make_one_report(tmp_path, capsys):
    rc, stdout, _ = run(capsys, FIXTURES / "e119", FIXTURES / "e100", "--report", tmp_path / "r.html")
    rc1, one, _ = run(capsys, FIXTURES / "e119", "--report", tmp_path / "a.html")
    rc2, two, _ = run(capsys, FIXTURES / "e100", "--report", tmp_path / "b.html")
    assert rc == rc1 == rc2 == 0
    assert beats_of(stdout) == beats_of(one) + beats_of(two)


def test_edf_and_csv_give_the_wfdb_beat_count(tmp_path, capsys):
    edfio = pytest.importorskip("edfio")
    src = load(str(FIXTURES / "e119"))
    edf = edfio.Edf([edfio.EdfSignal(src.signal * 1000, src.fs, label="ECG MLII", physical_dimension="uV",
                                     physical_range=(-10000, 10000), digital_range=(-32768, 32767))])
    edf.write(tmp_path / "e119.edf")
    np.savetxt(tmp_path / "e119.csv", np.c_[np.arange(src.signal.size), src.signal], delimiter=",",
               header="sample,MLII", comments="", fmt=["%d", "%.6f"])
    _, wf, _ = run(capsys, FIXTURES / "e119", "--report", tmp_path / "w.html")
    _, ed, err = run(capsys, tmp_path / "e119.edf", "--report", tmp_path / "e.html")
    _, cs, _ = run(capsys, tmp_path / "e119.csv", "--rate", 360, "--column", "MLII", "--report", tmp_path / "c.html")
    assert beats_of(wf) == beats_of(ed) == beats_of(cs), err


@pytest.mark.parametrize("make,extra,needle", [
    (lambda p: p.with_suffix(".edf").write_bytes(b"not an edf at all"), [], "not a valid EDF"),
    (lambda p: p.with_suffix(".csv").write_text("a,b\n1,2\n"), ["--rate", "360"], "name the ECG one with --column"),
    (lambda p: p.with_suffix(".csv").write_text("1\n2\n"), [], "needs its sample rate"),
    (lambda p: p.with_suffix(".csv").write_text("mv\n1\nx\n"), ["--rate", "360"], "not a number"),
    (lambda p: None, [], "no such WFDB record"),
])
def test_bad_files_give_one_line_errors(tmp_path, capsys, make, extra, needle):
    base = tmp_path / "bad"
    make(base)
    target = next(iter(tmp_path.glob("bad.*")), base)
    rc, _, err = run(capsys, target, *extra, "--report", tmp_path / "r.html")
    assert rc == 2 and needle in err and err.count("\n") == 1, err
