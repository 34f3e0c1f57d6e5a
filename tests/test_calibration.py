"""Calibration: beat clusters of a stretch of a recording, a clinician's labels as a WFDB annotation file,
handed to ``ecg-adapt`` (gateway/tools/clusters.py, gateway/web/calibration.py)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from gateway.tools.clusters import ClusterError, beat_clusters, parse_labels, write_labels

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mitdb"


def test_clusters_separate_ventricular_from_normal_beats_of_e233():
    found = beat_clusters(str(FIXTURES / "e233"), 0, 120, annotator="atr", max_clusters=8)
    clusters = found["clusters"]
    assert sum(c["count"] for c in clusters) == found["beats"] > 150
    assert [c["count"] for c in clusters] == sorted((c["count"] for c in clusters), reverse=True)
    purity = sum(max(c["gateway_labels"].values()) for c in clusters) / found["beats"]
    assert purity > 0.95  # each cluster is nearly one reference label
    assert {max(c["gateway_labels"], key=c["gateway_labels"].get) for c in clusters} >= {"N", "V"}
    assert len(clusters[0]["template"]) == round(0.65 * 360)


def test_a_clinicians_labels_become_an_annotation_file_of_the_labelled_beats(tmp_path):
    found = beat_clusters(str(FIXTURES / "e233"), 10, 70, annotator="atr", max_clusters=4)
    labels = {c["id"]: "V" if "V" in c["gateway_labels"] else "N" for c in found["clusters"]}
    labels[found["clusters"][-1]["id"]] = "-"  # one cluster left out
    path, counts = write_labels(found, labels, "cal", tmp_path / "labels")
    ann = wfdb.rdann(str(tmp_path / "labels" / "e233"), "cal")
    left_out = set(found["clusters"][-1]["samples"])
    assert len(ann.sample) == found["beats"] - len(left_out) and not left_out & set(ann.sample.tolist())
    assert np.all(np.diff(ann.sample) > 0) and set(ann.symbol) <= {"N", "V"}
    assert wfdb.rdheader(str(tmp_path / "labels" / "e233")).sig_len == 43200  # the record is linked beside it


def test_bad_stretches_and_labels_are_one_line_errors():
    with pytest.raises(ClusterError, match="empty"):
        beat_clusters(str(FIXTURES / "e233"), 50, 40, annotator="atr")
    with pytest.raises(ClusterError, match="starts after it"):
        beat_clusters(str(FIXTURES / "e233"), 500, 600, annotator="atr")
    with pytest.raises(ClusterError, match="expected CLUSTER"):
        parse_labels("1=N,2=X")


def test_the_calibration_pages_cluster_a_patients_recording_and_save_the_labels(tmp_path):
    pytest.importorskip("aiohttp")
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.web.app import Console
    from gateway.web.auth import add_user
    from gateway.web.config import ConsoleConfig
    from gateway.web.live import Live
    from gateway.web.store import Store

    patient_dir = tmp_path / "recordings" / "p1"
    patient_dir.mkdir(parents=True)
    for ext in ("hea", "dat"):
        shutil.copy(FIXTURES / f"e233.{ext}", patient_dir / f"e233.{ext}")
    shutil.copy(FIXTURES / "e233.atr", patient_dir / "e233.gw")  # as if the gateway had labelled these beats
    config = ConsoleConfig(state_dir=str(tmp_path / "state"), recordings_dir=str(tmp_path / "recordings"),
                           adaptation_dir=str(tmp_path / "adaptations"))
    store = Store(config.db_path)
    add_user(store, "doctor", "battery staple", ["p1"], 0.0)

    async def scenario():
        client = TestClient(TestServer(Console(config, store, Live(config, store)).app()))
        await client.start_server()
        try:
            page = await (await client.get("/login")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            await client.post("/login", data={"csrf": token, "user": "doctor", "password": "battery staple"})
            form = await (await client.get("/calibration/p1")).text()
            assert "e233 · 2.0 min" in form
            csrf = re.search(r'<meta name="csrf" content="([^"]+)"', form).group(1)
            bad = await client.post("/calibration/p1", data={"csrf": csrf, "record": "nope", "from": "0", "to": "60"})
            assert bad.status == 400 and "no recording" in await bad.text()
            r = await client.post("/calibration/p1", data={"csrf": csrf, "record": "e233", "from": "0", "to": "120"})
            assert r.status == 200 and "/calibration/p1/" in str(r.url)
            clusters = await r.text()
            assert "Cluster 1 · " in clusters and clusters.count("<svg") >= 2
            assert (await client.get("/calibration/p2")).status == 404
            labels = dict(re.findall(r'<select name="(label-\d+)">.*?<option value="(\w)" selected>', clusters))
            done = await client.post(str(r.url.path), data={"csrf": csrf, **labels})
            text = await done.text()
            assert done.status == 200, text
            assert re.search(r"wrote labels/e233\.cal: \d+ beats \(N \d+, V \d+", text)
            assert "The gateway loads" in text and (tmp_path / "adaptations" / "p1.npz").is_file()
        finally:
            await client.close()

    asyncio.run(scenario())
    store.close()
