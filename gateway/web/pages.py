"""The console's HTML, rendered on the server (no front-end build step; console.js adds the live parts).

Every value that comes from outside (patient ids, alert messages, user
names) goes through :func:`html.escape`; the pages load no inline script
(the Content-Security-Policy forbids it), so data reach console.js through
``data-`` attributes and a JSON ``<script type="application/json">`` block.
"""

from __future__ import annotations

import json
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
            '<div>Recent beats: <span id="beats"></span></div></section>'
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
