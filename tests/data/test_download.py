"""`minigan data download` against a local HTTP server on 127.0.0.1 (an ephemeral port) that
serves small IDX files written by the test, with the test's own checksum table: nothing here
touches the internet."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from minigan.cli import main
from minigan.data import load
from minigan.data.download import DownloadError, checksum_table, download

NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}  # URL path -> body
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                start = 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def paths(self, prefix: str) -> list[str]:
        return [p for p, _ in self.requests if p.startswith(prefix)]


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture
def dataset(server):
    """Four small MNIST-like files on the server under /m/, and their table entry."""
    rng = np.random.default_rng(0)
    arrays = {NAMES[0]: rng.integers(0, 256, (6, 4, 4)), NAMES[1]: rng.integers(0, 10, 6),
              NAMES[2]: rng.integers(0, 256, (3, 4, 4)), NAMES[3]: rng.integers(0, 10, 3)}
    files = {}
    for name, arr in arrays.items():
        body = _idx(arr)
        server.files[f"/m/{name}"] = body
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    table = {"mnist": {"mirrors": [server.url + "/m/"], "files": files}}
    return table, arrays


def test_download_verifies_and_loads(tmp_path, server, dataset):
    table, arrays = dataset
    logs = []
    out = download("mnist", tmp_path / "d", checksums=table, log=logs.append)
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)  # no .part left behind
    assert all("SHA-256 verified" in line for line in logs) and len(logs) == 4
    x, y = load(f"mnist-idx:{out}")
    assert np.array_equal(y, arrays[NAMES[1]])
    assert np.array_equal(np.rint((x[:, 0] + 1.0) * 127.5), arrays[NAMES[0]])
    # Present and verified: nothing is fetched again.
    n = len(server.requests)
    download("mnist", out, checksums=table, log=logs.append)
    assert len(server.requests) == n and "present, SHA-256 verified" in logs[-1]


def test_checksum_mismatch_deletes_and_fails(tmp_path, server, dataset):
    table, _ = dataset
    table["mnist"]["files"][NAMES[2]]["sha256"] = "0" * 64
    with pytest.raises(DownloadError, match=f"{NAMES[2]}: .*SHA-256 mismatch: got [0-9a-f]{{64}}, "
                                            f"expected 0{{64}} \\(the download was deleted\\)"):
        download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert not (tmp_path / NAMES[2]).exists() and not (tmp_path / (NAMES[2] + ".part")).exists()
    assert (tmp_path / NAMES[0]).exists()  # earlier files were verified, so they are kept


def test_existing_bad_file_is_not_overwritten_without_force(tmp_path, server, dataset):
    table, _ = dataset
    mine = tmp_path / NAMES[0]
    mine.write_bytes(b"the user's own file")
    with pytest.raises(DownloadError, match="exists but its SHA-256 is .*--force"):
        download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert mine.read_bytes() == b"the user's own file"
    download("mnist", tmp_path, checksums=table, force=True, log=lambda m: None)
    assert mine.read_bytes() == server.files[f"/m/{NAMES[0]}"]


@pytest.mark.parametrize("honour_range", [True, False])
def test_resumes_an_interrupted_download(tmp_path, server, dataset, honour_range):
    table, _ = dataset
    server.honour_range = honour_range
    body = server.files[f"/m/{NAMES[0]}"]
    (tmp_path / (NAMES[0] + ".part")).write_bytes(body[:40])  # what a killed run left
    download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert (tmp_path / NAMES[0]).read_bytes() == body
    assert (f"/m/{NAMES[0]}", "bytes=40-") in server.requests
    assert not list(tmp_path.glob("*.part"))


def test_complete_partial_file(tmp_path, server, dataset):
    table, _ = dataset
    body = server.files[f"/m/{NAMES[0]}"]
    (tmp_path / (NAMES[0] + ".part")).write_bytes(body)  # killed between fetch and rename
    download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert (tmp_path / NAMES[0]).read_bytes() == body and not server.paths(f"/m/{NAMES[0]}")
    # Without a known size it asks the server, which answers 416 (nothing past the end);
    # the download then starts over.
    del table["mnist"]["files"][NAMES[1]]["size"]
    (tmp_path / NAMES[1]).unlink()
    (tmp_path / (NAMES[1] + ".part")).write_bytes(server.files[f"/m/{NAMES[1]}"])
    download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert (tmp_path / NAMES[1]).read_bytes() == server.files[f"/m/{NAMES[1]}"]
    n = len(server.files[f"/m/{NAMES[1]}"])
    assert [r for p, r in server.requests if p.endswith(NAMES[1])][-2:] == [f"bytes={n}-", None]


def test_corrupt_partial_file_is_refetched_from_scratch(tmp_path, server, dataset):
    table, _ = dataset
    (tmp_path / (NAMES[1] + ".part")).write_bytes(b"garbage!")
    download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert (tmp_path / NAMES[1]).read_bytes() == server.files[f"/m/{NAMES[1]}"]
    assert [r for p, r in server.requests if p.endswith(NAMES[1])] == ["bytes=8-", None]


def test_mirror_failover_and_failure_report(tmp_path, server, dataset):
    table, _ = dataset
    table["mnist"]["mirrors"] = [server.url + "/missing/", server.url + "/m"]  # no slash: added
    download("mnist", tmp_path / "a", checksums=table, log=lambda m: None)
    assert len(server.paths("/missing/")) == 4
    table["mnist"]["mirrors"] = [server.url + "/missing/"]
    with pytest.raises(DownloadError, match=r"no mirror gave a verified copy:\n.*/missing/"
                                            r"train-images-idx3-ubyte.gz: HTTP Error 404"):
        download("mnist", tmp_path / "b", checksums=table, log=lambda m: None)
    assert not list((tmp_path / "b").iterdir())


def test_oversized_response_is_cut_off(tmp_path, server, dataset):
    table, _ = dataset
    table["mnist"]["files"][NAMES[0]]["size"] = 10
    with pytest.raises(DownloadError, match="more than the 10 bytes"):
        download("mnist", tmp_path, checksums=table, log=lambda m: None)
    assert not list(tmp_path.iterdir())


def test_bad_arguments(tmp_path, dataset):
    table, _ = dataset
    with pytest.raises(DownloadError, match="unknown 'cifar'; expected one of"):
        download("cifar", tmp_path, checksums=table)
    with pytest.raises(DownloadError, match="mirror: expected an http"):
        download("mnist", tmp_path, checksums=table, mirror="ftp://example.invalid/")
    with pytest.raises(DownloadError, match="needs 'files'"):
        download("mnist", tmp_path, checksums={"mnist": {"files": {"a.gz": {"sha256": "xyz"}}}})


def test_cli_with_env_table_and_mirror(tmp_path, server, dataset, monkeypatch, capsys):
    table, _ = dataset
    env_table = tmp_path / "table.json"
    env_table.write_text(json.dumps({"mnist": {"files": table["mnist"]["files"]}}))
    monkeypatch.setenv("MINIGAN_DATA_CHECKSUMS", str(env_table))
    out = tmp_path / "data"
    rc = main(["data", "download", "mnist", "--dir", str(out), "--mirror", server.url + "/m/"])
    captured = capsys.readouterr()
    assert rc == 0 and f"mnist-idx:{out}" in captured.out
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)
    assert main(["data", "info", f"mnist-idx:{out}", "--split", "test"]) == 0
    assert "3 images of shape (1, 4, 4)" in capsys.readouterr().out
    bad = json.loads(env_table.read_text())
    bad["mnist"]["files"][NAMES[3]]["sha256"] = "f" * 64
    env_table.write_text(json.dumps(bad))
    rc = main(["data", "download", "mnist", "--out", str(tmp_path / "e"),
               "--mirror", server.url + "/m/"])
    assert rc == 2 and "SHA-256 mismatch" in capsys.readouterr().err
    assert main(["data", "download", "nope", "--dir", str(tmp_path / "f")]) == 2
    assert "unknown 'nope'" in capsys.readouterr().err


def test_shipped_table():
    table = checksum_table()
    assert set(table) >= {"mnist", "fashion-mnist"}
    for name in ("mnist", "fashion-mnist"):
        entry = table[name]
        assert sorted(entry["files"]) == sorted(NAMES)
        assert all(m.startswith(("https://", "http://")) for m in entry["mirrors"])
        for spec in entry["files"].values():
            assert len(spec["sha256"]) == 64 and int(spec["sha256"], 16) >= 0
            assert spec["size"] > 4000
    # The published sizes: 60,000 / 10,000 images gzipped; label files are tiny.
    assert table["mnist"]["files"]["train-images-idx3-ubyte.gz"]["size"] == 9912422
    assert table["fashion-mnist"]["files"]["t10k-labels-idx1-ubyte.gz"]["size"] == 5148
