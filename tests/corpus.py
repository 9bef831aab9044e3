"""Access to ../shared/corpus for tests: read-only there, decompressed into a cache.

The cache lives in $MAILYARD_CORPUS_CACHE (default: a folder in the system temp dir),
is filled once per machine and shared by pytest-xdist workers, so a CI run pays for
decompressing the 78 MB medium mbox at most once.
"""

from __future__ import annotations

import json
import lzma
import os
import tempfile
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MAILYARD_CORPUS", ROOT.parent / "shared" / "corpus"))
CACHE = Path(
    os.environ.get("MAILYARD_CORPUS_CACHE", Path(tempfile.gettempdir()) / "mailyard-corpus")
)


def require_corpus() -> Path:
    """Skip the calling test when the shared corpus is not beside the checkout."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def decompressed(name: str) -> Path:
    """Path of generated/NAME decompressed from generated/NAME.xz (cached, atomic)."""
    src = require_corpus() / "generated" / (name + ".xz")
    CACHE.mkdir(parents=True, exist_ok=True)
    dst = CACHE / name
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    tmp = dst.with_suffix(f".{os.getpid()}.tmp")
    with lzma.open(src) as fin, open(tmp, "wb") as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)
    os.replace(tmp, dst)
    return dst


@cache
def truth(size: str) -> dict:
    """The ground truth of the generated `small` or `medium` archive."""
    with open(decompressed(f"{size}.truth.json")) as f:
        return json.load(f)


def generated_messages(size: str) -> list[bytes]:
    """Raw messages of the generated archive, in mbox order, located by the truth offsets."""
    data = decompressed(f"{size}.mbox").read_bytes()
    out = []
    for m in truth(size)["messages"]:
        chunk = data[m["offset"] : m["offset"] + m["length"]]
        body = chunk.split(b"\n", 1)[1]  # drop the From_ line
        out.append(_unescape_mboxrd(body.removesuffix(b"\n")))
    return out


def _unescape_mboxrd(body: bytes) -> bytes:
    import re

    return re.sub(rb"(?m)^>(>*From )", rb"\1", body)


def patchwork_files(kind: str) -> list[Path]:
    """The files of patchwork/KIND (mail, series, fuzz, patches), sorted."""
    return sorted((require_corpus() / "patchwork" / kind).iterdir())
