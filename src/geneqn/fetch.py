"""Download helpers for users who are online (never used by tests or the demo at run time).

Downloads go through pooch (Fatiando's downloader, the field's convention): the archive is
fetched to a temporary file, its hash checked, and only then moved into place; a file whose
hash does not match is deleted. The expected hashes live in :data:`KNOWN_HASHES`, in the code, so a
changed or tampered archive is refused.

``geneqn fetch sei`` downloads the authors' Sei archive (Zenodo DOI 10.5281/zenodo.4906996,
``sei_model.tar.gz``, about 3.1 GB) and unpacks ``sei.pth`` and ``projvec_targets.npy``.
``geneqn fetch beluga`` downloads ExPecto's resources archive (``resources_20190807.tar.gz`` from
deepsea.princeton.edu, several GB; academic-use licence) and unpacks only
``deepsea.beluga.pth``.

An archive whose hash is not pinned yet (:data:`KNOWN_HASHES` holds None) is checked against a
hash given with ``--md5`` / ``--sha256``; for Sei, without one, against the MD5 that Zenodo
publishes for the file (read from the record, and said so); for Beluga, whose host publishes
none, the download is refused unless ``unverified=True`` (``--unverified``), and its SHA-256 is
then logged so that it can be pinned.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from pathlib import Path

from geneqn import progress
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

SEI_RECORD_API = "https://zenodo.org/api/records/4906997"
SEI_ARCHIVE = "sei_model.tar.gz"
SEI_URL = f"https://zenodo.org/records/4906997/files/{SEI_ARCHIVE}?download=1"
SEI_FILES = ("sei.pth", "projvec_targets.npy")
BELUGA_URL = "https://deepsea.princeton.edu/media/code/expecto/resources_20190807.tar.gz"
BELUGA_ARCHIVE = "resources_20190807.tar.gz"
BELUGA_FILES = ("deepsea.beluga.pth",)

KNOWN_HASHES: dict[str, str | None] = {
    # "md5:<hex>" or "sha256:<hex>" (pooch's known_hash), pinned by a maintainer who downloaded the
    # archive from its official source. None: not pinned yet (see the module's doc for what is
    # checked instead); `geneqn fetch` logs the SHA-256 of every archive it downloads.
    SEI_ARCHIVE: None,
    BELUGA_ARCHIVE: None,
}

OFFLINE_HELP = (
    "Download it by hand on a machine that is online: {url} (Zenodo DOI 10.5281/zenodo.4906996), "
    "unpack it (tar xzf sei_model.tar.gz) and pass the folder holding sei.pth and "
    "projvec_targets.npy as --model-dir (or features.model_dir in the config)."
)
BELUGA_OFFLINE_HELP = (
    "Download it by hand on a machine that is online: {url} (ExPecto's resources), take "
    "resources/deepsea.beluga.pth out of it (tar xzf resources_20190807.tar.gz "
    "resources/deepsea.beluga.pth) and set features.beluga_dir to the folder holding it."
)


class _Bar:
    """pooch's progress-bar protocol (total, update, reset, close) on geneqn's progress hook."""

    def __init__(self, description: str):
        self.description = description
        self.total = None
        self._cm = None
        self._task = None

    def update(self, amount):
        if self._task is None:
            self._cm = progress.task(self.description, total=self.total)
            self._task = self._cm.__enter__()
        self._task.advance(amount)

    def reset(self):
        pass

    def close(self):
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = self._task = None


def _offline(url: str, reason, help: str) -> GeneqnError:
    return GeneqnError(f"cannot reach {url}: {reason}. This machine looks offline. {help}")


def zenodo_md5(api_url: str = SEI_RECORD_API, name: str = SEI_ARCHIVE, timeout: float = 20) -> str:
    """The MD5 that Zenodo publishes for file ``name`` of a record."""
    import requests

    try:
        r = requests.get(api_url, timeout=timeout, headers={"User-Agent": "geneqn"})
        r.raise_for_status()
        record = r.json()
    except requests.RequestException as e:
        raise _offline(api_url, e.__class__.__name__, OFFLINE_HELP.format(url=SEI_URL)) from None
    except json.JSONDecodeError:
        raise GeneqnError(f"the Zenodo record {api_url} did not answer with JSON; try again later, or pass --md5."
                          ) from None
    for f in record.get("files", []):
        if f.get("key") == name or f.get("filename") == name:
            checksum = f.get("checksum", "")
            return checksum.split(":", 1)[1] if ":" in checksum else checksum
    raise GeneqnError(f"the Zenodo record {api_url} lists no file {name}.")


def download(url: str, dest: Path, known_hash: str | None, help: str, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` with pooch; check ``known_hash`` ("md5:..."/"sha256:...",
    None: unchecked) before the file takes its name."""
    import pooch
    import requests

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    downloader = pooch.HTTPDownloader(progressbar=_Bar(f"download {dest.name}"), timeout=timeout,
                                      headers={"User-Agent": "geneqn"})
    try:
        path = pooch.retrieve(url, known_hash=known_hash, fname=dest.name, path=dest.parent, downloader=downloader)
    except requests.RequestException as e:
        raise _offline(url, e.__class__.__name__, help) from None
    except ValueError as e:
        if "hash" not in str(e).lower():
            raise
        raise GeneqnError(f"checksum mismatch for {dest.name} from {url}: its hash is not {known_hash}. The "
                          "download was corrupted or the file changed, and has been deleted; run the command "
                          "again, and if it fails the same way, check the source.") from None
    log.info("%s: SHA-256 %s", dest.name, pooch.file_hash(path, alg="sha256"))
    return Path(path)


def unpack(archive: Path, dest: Path, required: tuple[str, ...] = SEI_FILES, only_required: bool = False) -> Path:
    """Unpack a .tar.gz safely into ``dest`` (only the ``required`` files when ``only_required``);
    return the folder that holds ``required``."""
    tmp = dest / ".unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if Path(m.name).name in required] if only_required else None
            tf.extractall(tmp, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GeneqnError(f"cannot unpack {archive}: {e or type(e).__name__}. Delete it and download it again."
                          ) from None
    found = next((p.parent for p in tmp.rglob(required[0])), None)
    if found is None or not all((found / r).exists() for r in required):
        shutil.rmtree(tmp, ignore_errors=True)
        raise GeneqnError(f"{archive} does not hold {', '.join(required)}; is it the right archive?")
    for item in found.iterdir():
        target = dest / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        item.replace(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _expected_hash(archive: str, md5: str | None, sha256: str | None) -> str | None:
    if md5 and sha256:
        raise GeneqnError("give --md5 or --sha256, not both.")
    if md5:
        return f"md5:{md5.lower()}"
    if sha256:
        return f"sha256:{sha256.lower()}"
    return KNOWN_HASHES.get(archive)


def fetch_sei(dest: str | Path, url: str = SEI_URL, md5: str | None = None, sha256: str | None = None,
              api_url: str = SEI_RECORD_API, keep_archive: bool = False) -> Path:
    """Download, verify and unpack the Sei archive into ``dest``; return ``dest``."""
    dest = Path(dest)
    if all((dest / f).exists() for f in SEI_FILES):
        log.info("%s already holds %s", dest, ", ".join(SEI_FILES))
        return dest
    expected = _expected_hash(SEI_ARCHIVE, md5, sha256)
    if expected is None:
        expected = f"md5:{zenodo_md5(api_url)}"
        log.info("%s: no checksum is pinned in geneqn yet; checking against the MD5 that Zenodo publishes (%s)",
                 SEI_ARCHIVE, expected)
    archive = download(url, dest / SEI_ARCHIVE, expected, OFFLINE_HELP.format(url=SEI_URL))
    unpack(archive, dest)
    if not keep_archive:
        archive.unlink()
    return dest


def fetch_beluga(dest: str | Path, url: str = BELUGA_URL, md5: str | None = None, sha256: str | None = None,
                 unverified: bool = False, keep_archive: bool = False) -> Path:
    """Download ExPecto's resources archive, unpack ``deepsea.beluga.pth`` into ``dest``; return ``dest``."""
    dest = Path(dest)
    if all((dest / f).exists() for f in BELUGA_FILES):
        log.info("%s already holds %s", dest, ", ".join(BELUGA_FILES))
        return dest
    expected = _expected_hash(BELUGA_ARCHIVE, md5, sha256)
    if expected is None and not unverified:
        raise GeneqnError(f"no checksum of {BELUGA_ARCHIVE} is pinned in geneqn, and its host publishes none: "
                          "pass the one a colleague measured (--sha256 HASH or --md5 HASH), or --unverified to "
                          "download it unchecked (its SHA-256 is then printed, to pin or compare).")
    archive = download(url, dest / BELUGA_ARCHIVE, expected, BELUGA_OFFLINE_HELP.format(url=BELUGA_URL))
    unpack(archive, dest, BELUGA_FILES, only_required=True)
    if not keep_archive:
        archive.unlink()
    return dest
