// The console's live parts: one WebSocket per page, the overview table, the ECG trace, alerts and
// acknowledgements, re-announcements.  Plain JavaScript, no build step; the server renders the rest.
"use strict";
(() => {
  const csrf = document.querySelector("meta[name=csrf]").content;
  const page = document.body.dataset.page;
  const initialNode = document.getElementById("initial");
  const initial = initialNode ? JSON.parse(initialNode.textContent) : null;
  const patient = page === "patient" ? initial.patient : null;
  // for tests and the benchmark: when each alert became visible, trace delays, announcements
  const probe = window.ecgConsole = {seen: {}, delays: [], frames: 0, announced: 0, lastSampleTime: null};

  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    for (const c of children) node.append(c);
    return node;
  };
  const clock = (t) => t ? new Date(t * 1000).toLocaleTimeString([], {hour12: false}) : "–";
  const day = (t) => t ? new Date(t * 1000).toLocaleString([], {hour12: false}) : "–";

  // ---------------------------------------------------------------- banner and sound
  const unacked = new Map();  // critical alerts without an acknowledgement: id -> alert
  function beep() {
    try {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no audio before a user gesture: the banner still shows */ }
  }
  function showBanner() {
    const banner = $("#banner");
    if (!unacked.size) { banner.hidden = true; banner.textContent = ""; return; }
    const latest = [...unacked.values()].sort((a, b) => b.time - a.time)[0];
    banner.replaceChildren(el("strong", {textContent: `${unacked.size} unacknowledged critical alert(s): `}),
      el("a", {href: `/patient/${encodeURIComponent(latest.patient_id)}`,
               textContent: `${latest.patient_id} — ${latest.message} (${clock(latest.time)})`}));
    banner.hidden = false;
  }
  function trackCritical(alert) {
    if (alert.severity === "critical" && alert.state === "raised" && !alert.ack) unacked.set(alert.id, alert);
    showBanner();
  }

  // ---------------------------------------------------------------- overview
  function updateRow(id, s) {
    const row = document.querySelector(`tr[data-patient="${CSS.escape(id)}"]`);
    if (!row) return;
    const cell = (cls, text, state) => { const c = $(`.${cls}`, row); c.textContent = text; c.dataset.state = state; };
    cell("gateway", s.stale ? "stale" : s.gateway, s.stale ? "bad" : s.gateway === "online" ? "ok" : "bad");
    cell("kit", s.kit, s.kit === "online" ? "ok" : "bad");
    cell("hr", s.heart_rate == null ? "–" : `${Math.round(s.heart_rate)} /min`, "");
    cell("quality", s.signal_quality || "–", s.signal_quality === "good" ? "ok" : s.signal_quality ? "bad" : "");
    cell("lead", s.lead || "–", s.lead === "on" ? "ok" : s.lead === "off" ? "bad" : "");
    cell("active", (s.active_alerts || []).join(", ") || "none", (s.active_alerts || []).length ? "bad" : "ok");
    row.dataset.monitored = s.monitored;
  }

  // ---------------------------------------------------------------- patient page
  function updateReadout(s) {
    $("#state").textContent = s.monitored ? "monitored" : s.stale ? "stale" : `gateway ${s.gateway}, kit ${s.kit}`;
    $("#state").dataset.state = s.monitored ? "ok" : "bad";
    $("#hr").textContent = s.heart_rate == null ? "–" : Math.round(s.heart_rate);
    $("#quality").textContent = s.signal_quality || "–";
    $("#lead").textContent = s.lead || "–";
    $("#active").textContent = (s.active_alerts || []).length ? `active: ${s.active_alerts.join(", ")}` : "no active alert";
  }
  function addBeat(b) {
    const list = $("#beats");
    list.append(el("span", {className: `beat beat-${b.label}`, textContent: b.label, title: clock(b.time)}));
    while (list.childElementCount > 40) list.firstElementChild.remove();
  }
  function ackText(ack) { return `Acknowledged by ${ack.by} at ${day(ack.at)}`; }
  function alertItem(a) {
    const item = el("li", {className: `alert sev-${a.severity} state-${a.state}`});
    item.dataset.alert = a.id;
    item.append(el("div", {className: "head", textContent:
      `${day(a.time)} · ${a.severity} · ${a.type.replace(/_/g, " ")} · ${a.state}` +
      (a.heart_rate != null ? ` · ${Math.round(a.heart_rate)} /min` : "")}),
      el("div", {className: "message", textContent: a.message}));
    if (a.has_strip) item.append(el("img", {className: "strip", src: `/alert/${encodeURIComponent(a.id)}/strip.png`,
                                            alt: `ECG strip of ${a.type}`}));
    const ackBox = el("div", {className: "ack"});
    if (a.ack) ackBox.textContent = ackText(a.ack);
    else if (a.state === "raised") {
      const form = el("form", {method: "post", action: `/alert/${encodeURIComponent(a.id)}/ack`});
      form.append(el("input", {type: "hidden", name: "csrf", value: csrf}), el("button", {textContent: "Acknowledge"}));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const r = await fetch(form.action, {method: "POST", body: new FormData(form),
                                            headers: {"Accept": "application/json"}});
        if (r.ok) acknowledged(await r.json());
      });
      ackBox.append(form);
    }
    item.append(ackBox);
    return item;
  }
  function addAlert(a) {
    if (page === "patient" && a.patient_id === patient && !document.querySelector(`li[data-alert="${CSS.escape(a.id)}"]`)) {
      $("#alerts").prepend(alertItem(a));
    }
    probe.seen[a.id] = Date.now() / 1000;
    trackCritical(a);
  }
  function acknowledged(ack) {
    unacked.delete(ack.alert_id);
    showBanner();
    const box = document.querySelector(`li[data-alert="${CSS.escape(ack.alert_id)}"] .ack`);
    if (box) box.textContent = ackText(ack);
  }

  // the trace: a sweep over 10 s at 25 mm/s (5 px/mm), 10 mm/mV, on the standard ECG grid
  const PX_MM = 5, MM_S = 25, MM_MV = 10, GAP_S = 0.2;
  let canvas, ctx, width, height, last = null;
  function setUpTrace() {
    canvas = $("#trace");
    ctx = canvas.getContext("2d");
    width = canvas.width; height = canvas.height;
    const grid = el("canvas", {width, height});
    const g = grid.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, width, height);
    for (const [step, color] of [[PX_MM, "#f6c9c9"], [5 * PX_MM, "#e08a8a"]]) {
      g.strokeStyle = color; g.lineWidth = 1; g.beginPath();
      for (let x = 0.5; x < width; x += step) { g.moveTo(x, 0); g.lineTo(x, height); }
      for (let y = 0.5; y < height; y += step) { g.moveTo(0, y); g.lineTo(width, y); }
      g.stroke();
    }
    canvas.style.backgroundImage = `url(${grid.toDataURL()})`;
  }
  function drawFrame(f) {
    const span = width / (PX_MM * MM_S);  // seconds across the canvas
    const xOf = (t) => ((t % span) / span) * width;
    const yOf = (uv) => height / 2 - (uv / 1000) * MM_MV * PX_MM;
    const first = f.t, dt = 1 / f.hz;
    if (last && Math.abs(first - (last.t + dt)) > 2 * dt) last = null;  // a gap: do not join across it
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5; ctx.beginPath();
    let x0 = last ? last.x : null, y0 = last ? last.y : null;
    for (let i = 0; i < f.uv.length; i++) {
      const t = first + i * dt, x = xOf(t), y = yOf(f.uv[i]);
      ctx.clearRect(x, 0, GAP_S * MM_S * PX_MM, height);  // the erase bar ahead of the pen
      if (x0 !== null && x >= x0) { ctx.moveTo(x0, y0); ctx.lineTo(x, y); }
      x0 = x; y0 = y;
    }
    ctx.stroke();
    const end = first + (f.uv.length - 1) * dt;
    last = {t: end, x: x0, y: y0};
    probe.frames += 1;
    probe.lastSampleTime = end;
    probe.delays.push(Date.now() / 1000 - end);
    if (probe.delays.length > 1000) probe.delays.shift();
  }

  // ---------------------------------------------------------------- the socket
  function handle(m) {
    if (m.kind === "hello") {
      $("#link").textContent = m.mqtt ? "live" : "broker unreachable";
      for (const [id, s] of Object.entries(m.patients)) {
        if (page === "overview") updateRow(id, s);
        if (id === patient) updateReadout(s);
      }
    } else if (m.kind === "patient") {
      if (page === "overview") updateRow(m.patient, m.data);
      if (m.patient === patient) updateReadout(m.data);
    } else if (m.kind === "trace" && m.patient === patient) {
      drawFrame(m.frame);
    } else if (m.kind === "beat" && m.patient === patient) {
      addBeat(m.beat);
    } else if (m.kind === "alert") {
      addAlert(m.alert);
      if (m.alert.severity === "critical" && m.alert.state === "raised") beep();
    } else if (m.kind === "ack") {
      acknowledged(m.ack);
    } else if (m.kind === "announce") {
      probe.announced += 1;
      trackCritical(m.alert);
      beep();
    }
  }
  let backoff = 500;
  function connect() {
    if (!$("#link")) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onopen = () => { backoff = 500; if (patient) ws.send(JSON.stringify({watch: patient})); };
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = () => {
      $("#link").textContent = "reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  if (page === "overview") for (const [id, s] of Object.entries(initial.patients)) updateRow(id, s);
  if (page === "patient") {
    setUpTrace();
    updateReadout(initial.summary);
    initial.beats.forEach(addBeat);
    for (const a of initial.alerts.slice().reverse()) addAlert(a);
  }
  connect();
})();
