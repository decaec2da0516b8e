"""Download helpers for users who are online (never used by tests or the demo at run time).

``geneqn fetch sei`` downloads the authors' Sei archive (Zenodo DOI 10.5281/zenodo.4906996,
``sei_model.tar.gz``, about 3.1 GB), checks its MD5 against the checksum Zenodo publishes,
and unpacks it. ``geneqn fetch beluga`` downloads ExPecto's resources archive
(``resources_20190807.tar.gz`` from deepsea.princeton.edu, several GB; academic-use licence) and
unpacks only ``deepsea.beluga.pth``; no checksum is published for it, so ``--md5`` is optional.
Downloads resume from a partial ``.part`` file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from geneqn import progress
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

SEI_RECORD_API = "https://zenodo.org/api/records/4906996"
SEI_ARCHIVE = "sei_model.tar.gz"
SEI_URL = f"https://zenodo.org/records/4906996/files/{SEI_ARCHIVE}?download=1"
SEI_FILES = ("sei.pth", "projvec_targets.npy")
BELUGA_URL = "https://deepsea.princeton.edu/media/code/expecto/resources_20190807.tar.gz"
BELUGA_ARCHIVE = "resources_20190807.tar.gz"
BELUGA_FILES = ("deepsea.beluga.pth",)

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


def _open(url: str, timeout: float, headers: dict | None = None, help: str | None = None):
    req = urllib.request.Request(url, headers={"User-Agent": "geneqn", **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise GeneqnError(f"cannot reach {url}: {reason}. This machine looks offline. "
                          + (help or OFFLINE_HELP.format(url=SEI_URL))) from None


def zenodo_md5(api_url: str = SEI_RECORD_API, name: str = SEI_ARCHIVE, timeout: float = 20) -> str:
    """The MD5 that Zenodo publishes for file ``name`` of a record."""
    with _open(api_url, timeout) as r:
        record = json.load(r)
    for f in record.get("files", []):
        if f.get("key") == name or f.get("filename") == name:
            checksum = f.get("checksum", "")
            return checksum.split(":", 1)[1] if ":" in checksum else checksum
    raise GeneqnError(f"the Zenodo record {api_url} lists no file {name}.")


def md5sum(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, md5: str | None, timeout: float = 60, help: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify ``md5`` if given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    with _open(url, timeout, headers, help) as r:
        if start and getattr(r, "status", 200) != 206:
            start = 0  # server ignored the range: start over
        length = r.headers.get("Content-Length")
        total = int(length) + start if length else None
        with progress.task(f"download {dest.name}", total=total) as bar, open(part, "ab" if start else "wb") as fh:
            bar.advance(start)
            while block := r.read(1 << 20):
                fh.write(block)
                bar.advance(len(block))
    if md5:
        got = md5sum(part)
        if got != md5:
            part.unlink()
            raise GeneqnError(f"checksum mismatch for {dest.name}: MD5 {got}, expected {md5}. The "
                              "download was corrupted and has been deleted; run the command again.")
    os.replace(part, dest)
    return dest


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
    except (tarfile.TarError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GeneqnError(f"cannot unpack {archive}: {e}.") from None
    found = next((p.parent for p in tmp.rglob(required[0])), None)
    if found is None or not all((found / r).exists() for r in required):
        shutil.rmtree(tmp, ignore_errors=True)
        raise GeneqnError(f"{archive} does not hold {', '.join(required)}; is it the Sei archive?")
    for item in found.iterdir():
        target = dest / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(item, target)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def fetch_sei(dest: str | Path, url: str = SEI_URL, md5: str | None = None,
              api_url: str = SEI_RECORD_API, keep_archive: bool = False) -> Path:
    """Download, verify and unpack the Sei archive into ``dest``; return ``dest``."""
    dest = Path(dest)
    if all((dest / f).exists() for f in SEI_FILES):
        log.info("%s already holds %s", dest, ", ".join(SEI_FILES))
        return dest
    if md5 is None:
        md5 = zenodo_md5(api_url)
    archive = download(url, dest / SEI_ARCHIVE, md5)
    unpack(archive, dest)
    if not keep_archive:
        archive.unlink()
    return dest


def fetch_beluga(dest: str | Path, url: str = BELUGA_URL, md5: str | None = None, keep_archive: bool = False) -> Path:
    """Download ExPecto's resources archive, unpack ``deepsea.beluga.pth`` into ``dest``; return ``dest``."""
    dest = Path(dest)
    if all((dest / f).exists() for f in BELUGA_FILES):
        log.info("%s already holds %s", dest, ", ".join(BELUGA_FILES))
        return dest
    archive = download(url, dest / BELUGA_ARCHIVE, md5, help=BELUGA_OFFLINE_HELP.format(url=BELUGA_URL))
    unpack(archive, dest, BELUGA_FILES, only_required=True)
    if not keep_archive:
        archive.unlink()
    return dest
