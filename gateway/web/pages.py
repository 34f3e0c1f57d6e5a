"""The console's HTML, rendered on the server (no front-end build step; console.js adds the live parts).

Every value that comes from outside (patient ids, alert messages, user
names) goes through :func:`html.escape`; the pages load no inline script
(the Content-Security-Policy forbids it), so data reach console.js through
``data-`` attributes and a JSON ``<script type="application/json">`` block.
"""

from __future__ import annotations

import json
import math
from html import escape


def _json_block(element_id: str, value) -> str:
    text = json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def layout(title: str, body: str, *, user: str | None = None, csrf: str | None = None, page: str = "") -> str:
    nav = ""
    if user:
        nav = (f'<nav><a href="/">Patients</a> <a href="/analysis">Analysis</a>'
               f'<span class="who">{escape(user)}</span><span id="link" class="link">connecting…</span>'
               f'<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" '
               f'value="{escape(csrf or "")}"><button>Log out</button></form></nav>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><meta name="csrf" content="{escape(csrf or "")}">'
            f'<title>{escape(title)} · ECG console</title><link rel="stylesheet" href="/static/console.css">'
            f'<script src="/static/console.js" defer></script></head><body data-page="{escape(page)}">'
            f'{nav}<div id="banner" hidden></div><main>{body}</main></body></html>')


def login_page(login_csrf: str, message: str = "") -> str:
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return layout("Log in", f'<h1>ECG console</h1>{error}<form method="post" action="/login" class="login">'
                  f'<input type="hidden" name="csrf" value="{escape(login_csrf)}">'
                  '<label>User <input name="user" autocomplete="username" required autofocus></label>'
                  '<label>Password <input name="password" type="password" autocomplete="current-password" '
                  'required></label><button>Log in</button></form>')


def overview_page(user: str, csrf: str, summaries: dict[str, dict]) -> str:
    rows = "".join(
        f'<tr data-patient="{escape(p)}"><td><a href="/patient/{escape(p)}">{escape(p)}</a></td>'
        '<td class="gateway"></td><td class="kit"></td><td class="hr"></td><td class="quality"></td>'
        '<td class="lead"></td><td class="active"></td></tr>' for p in summaries)
    empty = "" if summaries else '<p>No patients are assigned to you (ask for <code>ecg-web adduser</code>).</p>'
    body = (f'<h1>Patients</h1>{empty}<table id="overview"><thead><tr><th>Patient</th><th>Gateway</th><th>Kit</th>'
            f'<th>Heart rate</th><th>Signal</th><th>Lead</th><th>Active alerts</th></tr></thead><tbody>{rows}</tbody>'
            f'</table>{_json_block("initial", {"patients": summaries})}')
    return layout("Patients", body, user=user, csrf=csrf, page="overview")


def patient_page(user: str, csrf: str, patient: str, summary: dict, beats: list, alerts: list[dict],
                 renotify_s: float) -> str:
    body = (f'<h1>{escape(patient)} <span id="state" class="state"></span></h1>'
            '<section class="live"><div class="readout"><span id="hr">–</span> /min · signal <span id="quality">–'
            '</span> · lead <span id="lead">–</span> · <span id="active"></span></div>'
            '<canvas id="trace" width="1250" height="300" aria-label="live ECG, 25 mm/s, 10 mm/mV"></canvas>'
            '<p class="scale">25 mm/s · 10 mm/mV · large squares 0.2 s, 0.5 mV</p>'
            '<div>Recent beats: <span id="beats"></span></div>'
            f'<p><a href="/calibration/{escape(patient)}">Calibrate the classifier for this patient</a></p></section>'
            '<section><h2>Alerts</h2><ol id="alerts" class="alerts"></ol></section>'
            + _json_block("initial", {"patient": patient, "summary": summary, "beats": beats, "alerts": alerts,
                                      "renotify_s": renotify_s}))
    return layout(patient, body, user=user, csrf=csrf, page="patient")


def analysis_page(user: str, csrf: str, max_mb: float, message: str = "") -> str:
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    body = (f'<h1>Analyse a recording</h1>{error}<p>A WFDB record (its <code>.hea</code> and <code>.dat</code> '
            'together), an EDF/EDF+ file, or a CSV file of values in mV with its sample rate; at most '
            f'{max_mb:g} MB. The report is the one of <code>ecg-analyze RECORD --report FILE.html</code>.</p>'
            '<form method="post" action="/analysis" enctype="multipart/form-data" class="upload">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<label>File(s) <input type="file" name="file" multiple required></label>'
            '<label>CSV sample rate (Hz) <input name="rate" inputmode="decimal"></label>'
            '<button>Make the report</button></form>')
    return layout("Analysis", body, user=user, csrf=csrf, page="analysis")


def report_frame_page(user: str, csrf: str, name: str, token: str, summary: str) -> str:
    body = (f'<h1>Report: {escape(name)}</h1><p class="summary">{escape(summary)}</p>'
            f'<p><a href="/report/{escape(token)}/file" download="{escape(name)}-report.html">Download</a> · '
            '<a href="/analysis">Analyse another</a></p>'
            f'<iframe class="report" src="/report/{escape(token)}/file" title="report"></iframe>')
    return layout("Report", body, user=user, csrf=csrf, page="report")


def error_page(status: int, message: str, user: str | None = None, csrf: str | None = None) -> str:
    return layout(str(status), f'<h1>{status}</h1><p class="error" role="alert">{escape(message)}</p>'
                  '<p><a href="/">Back</a></p>', user=user, csrf=csrf, page="error")


def calibration_page(user: str, csrf: str, patient: str, records: list, message: str = "") -> str:
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    if records:
        options = "".join(f'<option value="{escape(r.name)}">{escape(r.name)} · {r.seconds / 60:.1f} min'
                          f'{" · " + escape(r.start) if r.start else ""}</option>' for r in records)
        form = (f'<form method="post" action="/calibration/{escape(patient)}" class="upload">'
                f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
                f'<label>Recording <select name="record">{options}</select></label>'
                '<label>From (s) <input name="from" value="0" inputmode="decimal"></label>'
                '<label>To (s) <input name="to" value="300" inputmode="decimal"></label>'
                '<button>Show the beat clusters</button></form>')
    else:
        form = ("<p>No recordings of this patient here: the console reads the gateway's recordings when it runs on "
                "the same machine (<code>recordings_dir</code>).</p>")
    body = (f'<h1>Calibrate {escape(patient)}</h1>{error}<p>The beats of a stretch of a recording, grouped by shape; '
            'label each group, and the patient adaptation of the classifier is fitted from your labels '
            '(<code>ecg-adapt</code>) and handed to the gateway.</p>' + form)
    return layout("Calibration", body, user=user, csrf=csrf, page="calibration")


def _half_range_mv(templates: list[list[int]]) -> float:
    """+- this many mV holds every template (at least 1.5), so all clusters share one scale."""
    peak = max((abs(v) for t in templates for v in t), default=0) / 1000
    return max(1.5, math.ceil((peak + 0.1) * 2) / 2)


def _template_svg(template: list[int], fs: float, pre_s: float, half_mv: float) -> str:
    """A cluster's median beat on the standard grid (25 mm/s, 10 mm/mV) at 10 px/mm."""
    mm = 10
    px_s, px_mv = 25 * mm, 10 * mm
    height = int(2 * half_mv * px_mv)
    width = int(round(len(template) / fs * px_s))
    points = " ".join(f"{i / fs * px_s:.1f},{height / 2 - v / 1000 * px_mv:.1f}" for i, v in enumerate(template))
    grid = "".join(f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" class="g{int(x % (5 * mm) == 0)}"/>'
                   for x in range(0, width + 1, mm))
    grid += "".join(f'<line x1="0" y1="{y}" x2="{width}" y2="{y}" class="g{int(y % (5 * mm) == 0)}"/>'
                    for y in range(0, height + 1, mm))
    r = pre_s * px_s
    return (f'<svg class="template" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="median beat">{grid}<line x1="{r:.1f}" y1="0" x2="{r:.1f}" y2="{height}" class="r"/>'
            f'<polyline points="{points}"/></svg>')


def clusters_page(user: str, csrf: str, patient: str, token: str, found: dict, labels: tuple, result: str = "",
                  error: str = "") -> str:
    notes = (f'<p class="result" role="status">{escape(result)}</p>' if result else "") + \
            (f'<p class="error" role="alert">{escape(error)}</p>' if error else "")
    cards = []
    half_mv = _half_range_mv([c["template"] for c in found["clusters"]])
    for c in found["clusters"]:
        said = ", ".join(f"{k} {v}" for k, v in sorted(c["gateway_labels"].items(), key=lambda kv: -kv[1]))
        guess = max(c["gateway_labels"], key=c["gateway_labels"].get)
        choice = "".join(f'<option value="{lab}"{" selected" if lab == guess else ""}>{lab}</option>'
                         for lab in (*labels, "-"))
        cards.append(f'<li class="cluster"><h3>Cluster {c["id"]} · {c["count"]} beats</h3>'
                     f'{_template_svg(c["template"], found["fs"], found["pre_s"], half_mv)}<p>gateway: {escape(said)}</p>'
                     f'<label>Label <select name="label-{c["id"]}">{choice}</select></label></li>')
    body = (f'<h1>Calibrate {escape(patient)}: {escape(found["record"].rsplit("/", 1)[-1])}, '
            f'{found["from"]:g}-{found["to"]:g} s</h1>{notes}<p>{found["beats"]} beats in {len(found["clusters"])} '
            'clusters (median beat of each; the line marks the R peak). Labels: N normal, A supraventricular, '
            'V ventricular, F fusion, Q unclassifiable, - leave out.</p>'
            f'<form method="post" action="/calibration/{escape(patient)}/{escape(token)}" class="labels">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}"><ol class="clusters">{"".join(cards)}</ol>'
            '<button>Save the labels and fit the adaptation</button></form>')
    return layout("Calibration", body, user=user, csrf=csrf, page="calibration")
