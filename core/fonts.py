"""A font with Chinese glyphs for the word clouds: the configured one, a system one, or the PyPI one.

Order: ``SWITCHYARD_BRIEFS__FONT_PATH`` if set (it must exist and draw Chinese) → Debian's
fonts-wqy-microhei or fonts-noto-cjk → any font fontconfig says covers Chinese → the PyPI package
``noto-cjk-sans-otc`` (a collection whose face 0 is Japanese: its Simplified Chinese face is extracted
once into the cache directory, since wordcloud cannot pick a face of a collection). A Latin-only font
is never used: without a CJK font the clouds would draw boxes, so :class:`FontError` says how to fix it.
The font found is kept for the life of the process (the lookup runs ``fc-list`` and reads fonts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont

CHECK_TEXT = "中文数据"
SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
)
# Face names that mean Simplified Chinese inside a CJK collection, best first.
CHINESE_FACE_MARKERS = (" SC", " CN", "Simplified", "GB")
COLLECTION_SUFFIXES = (".ttc", ".otc")
HOW_TO_FIX = (
    "install the PyPI package noto-cjk-sans-otc (pip install noto-cjk-sans-otc==0.0.1), "
    "or the Debian package fonts-wqy-microhei, "
    "or set SWITCHYARD_BRIEFS__FONT_PATH to a .ttf/.otf/.ttc font with Chinese glyphs"
)


class FontError(RuntimeError):
    """No usable CJK font, or the configured font cannot draw Chinese."""


def has_glyphs(font: Path, text: str, face: int = 0) -> bool:
    """True if ``font`` (face ``face`` of a collection) maps every non-space character of ``text``."""
    try:
        with TTFont(font, fontNumber=face, lazy=True) as loaded:
            cmap = loaded.getBestCmap() or {}
    except Exception:  # fontTools raises many types on files that are not fonts
        return False
    return all(ord(char) in cmap for char in text if not char.isspace())


def chinese_face(font: Path) -> int | None:
    """The face of ``font`` to draw Chinese with (0 for a single font), or None if no face has the glyphs."""
    if font.suffix.lower() not in COLLECTION_SUFFIXES:
        return 0 if has_glyphs(font, CHECK_TEXT) else None
    try:
        collection = TTCollection(font, lazy=True)
    except Exception:
        return None
    names = [str(face["name"].getDebugName(4) or "") for face in collection.fonts]
    collection.close()
    ranked = [i for marker in CHINESE_FACE_MARKERS for i, name in enumerate(names) if marker in name]
    for index in [*ranked, *range(len(names))]:
        if has_glyphs(font, CHECK_TEXT, face=index):
            return index
    return None


def single_face(font: Path, face: int, cache_dir: Path) -> Path:
    """``font`` itself for face 0, else that face written once as its own font file in ``cache_dir``."""
    if face == 0:
        return font
    stat = font.stat()
    source = hashlib.sha1(f"{font.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    target = cache_dir / f"{font.stem}-face{face}-{source}.otf"
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        collection = TTCollection(font, lazy=True)
        try:
            collection.fonts[face].save(partial)
        finally:
            collection.close()
        os.replace(partial, target)  # another process extracting at the same time writes the same bytes
    return target


def system_fonts() -> list[Path]:
    """Known Debian CJK fonts that exist here, then what fontconfig lists as covering Chinese."""
    found = [path for path in SYSTEM_FONTS if path.is_file()]
    if shutil.which("fc-list"):
        try:
            listed = subprocess.run(
                ["fc-list", "-f", "%{file}\n", ":lang=zh"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        found += sorted({Path(line) for line in listed.splitlines() if line.strip()} - set(found))
    return found


def packaged_font() -> Path | None:
    """The collection shipped by the PyPI package noto-cjk-sans-otc, if it is installed."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return path if path.is_file() else None


@cache
def cjk_font(configured: Path | None, cache_dir: Path) -> Path:
    """A single-face font file that draws Chinese: the configured one, else a system one, else PyPI's;
    looked up once per process and arguments (a FontError is not kept: the next call looks again)."""
    if configured is not None:
        if not configured.is_file():
            raise FontError(f"the configured font {configured} does not exist: {HOW_TO_FIX}")
        face = chinese_face(configured)
        if face is None:
            raise FontError(
                f"the configured font {configured} has no Chinese glyphs ({CHECK_TEXT}): {HOW_TO_FIX}"
            )
        return single_face(configured, face, cache_dir)
    packaged = packaged_font()
    for candidate in [*system_fonts(), *([packaged] if packaged else [])]:
        face = chinese_face(candidate)
        if face is not None:
            return single_face(candidate, face, cache_dir)
    raise FontError(f"no font with Chinese glyphs found for the word clouds: {HOW_TO_FIX}")
