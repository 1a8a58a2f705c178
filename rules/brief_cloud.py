"""The brief's word clouds: PNGs drawn with wordcloud's default colours, without importing pyplot.

wordcloud opens the font file again for every size it tries of every word (~1,000 times for a cloud
of 200 words, ~900 of them while it looks for the size of the first word, from the canvas's height
down one size at a time). `CachedFonts` gives it a `SizedFont` for each size instead: opened only
when the size is drawn or measured for real, and measured without opening it when the text is sure
to be larger than the canvas (such a size is never placed, so the image is the same). The last few
sizes opened are kept open: only a few, since each open size maps the whole font file, and its pages
count in the process's resident memory once per mapping (every size of a 16 MB font kept open
showed as 4 GB).
"""

from __future__ import annotations

import os
import threading
import unicodedata
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import wordcloud.wordcloud
from matplotlib import colormaps
from PIL import ImageFont
from wordcloud import WordCloud
from wordcloud.wordcloud import colormap_color_func

CLOUD_SIZE = (800, 600)
MARGIN = 2  # pixels around each word: wordcloud's default
MIN_FONT_SIZE = 4  # wordcloud's default
OPEN_SIZES = 16  # font sizes kept open per process: ~380 of a cloud's ~1,000 opens saved, ~+40 MB
# A text measured at one size is, at another, at least SURE × its measure scaled, less SLACK_PX pixels
# a character (hinting rounds each glyph's advance and bearings to whole pixels): a wide margin.
SURE = 0.9
SLACK_PX = 2


COLORMAP = "viridis"  # wordcloud's default


class ColormapColors(colormap_color_func):
    """wordcloud's own colouring (the same colours), its colormap taken from matplotlib's registry:
    wordcloud's takes it from ``matplotlib.pyplot``, whose import costs ~0.3 s of CPU per process."""

    def __init__(self, colormap: str) -> None:
        self.colormap = colormaps[colormap]


_drawing = threading.Lock()  # one cloud at a time per process: a font object is not shared while drawn
os.register_at_fork(after_in_child=lambda: globals().update(_drawing=threading.Lock()))
Box = tuple[float, float, float, float]
_measured: dict[tuple[Any, ...], tuple[int, Box]] = {}  # a text's last real measure: (size, box); per cloud


@lru_cache(maxsize=OPEN_SIZES)
def _opened(font: str, size: int) -> ImageFont.FreeTypeFont:
    """The font at one size, kept open for the next asks of that size (the last ``OPEN_SIZES`` sizes)."""
    return ImageFont.truetype(font, size)


class SizedFont:
    """One size of the font as wordcloud asks for it: opened when drawn with or measured for real.

    A text sure to be wider or taller than the canvas's larger side (and its margin) at this size is
    measured by scaling its last real measure at another size: wordcloud places no such text in any
    orientation, and tries the next size without drawing or drawing lots, so the image is the same.
    """

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size

    def __getattr__(self, name: str) -> Any:
        return getattr(_opened(self.path, self.size), name)

    def getbbox(self, text: str, *args: Any, **kwargs: Any) -> Box:
        key = (text, args, tuple(sorted(kwargs.items())))
        if (known := _measured.get(key)) is not None:
            size, box = known
            scaled = (*(round(edge * self.size / size) for edge in box),)
            extent = max(scaled[2] - scaled[0], scaled[3] - scaled[1])
            if extent * SURE - SLACK_PX * len(text) + MARGIN >= max(CLOUD_SIZE):
                return scaled  # type: ignore[return-value]
        box = _opened(self.path, self.size).getbbox(text, *args, **kwargs)
        _measured[key] = (self.size, box)
        return box


class CachedFonts:
    """PIL's ImageFont as wordcloud uses it, ``truetype(path, size)`` giving a :class:`SizedFont`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ImageFont, name)

    @staticmethod
    def truetype(font: Any = None, size: float = 10, *args: Any, **kwargs: Any) -> Any:
        """A `SizedFont` when asked as wordcloud asks (a path and a whole size); else PIL's font."""
        if args or kwargs or not isinstance(font, str | Path) or int(size) != size:
            return ImageFont.truetype(font, size, *args, **kwargs)
        return SizedFont(str(font), int(size))


wordcloud.wordcloud.ImageFont = CachedFonts()  # type: ignore[assignment]  # the module wordcloud draws with


def drawable(frequencies: dict[str, int]) -> dict[str, int]:
    """The words a word cloud can draw: those with an emoji or other symbol (Unicode "So", which the
    CJK font draws as a box) are left out of the clouds; the sheets keep them."""
    return {
        word: n for word, n in frequencies.items() if not any(unicodedata.category(c) == "So" for c in word)
    }


def draw_cloud(
    path: Path, frequencies: dict[str, int], *, font: Path, empty_text: str, max_words: int
) -> None:
    """A PNG word cloud of ``frequencies`` (``empty_text`` alone when there is none), drawn with ``font``."""
    cloud = WordCloud(
        font_path=str(font),
        width=CLOUD_SIZE[0],
        height=CLOUD_SIZE[1],
        background_color="white",
        max_words=max_words,
        margin=MARGIN,
        min_font_size=MIN_FONT_SIZE,
        random_state=42,
        color_func=ColormapColors(COLORMAP),
    )
    with _drawing:
        _measured.clear()
        cloud.generate_from_frequencies(drawable(frequencies) or {empty_text: 1})
        image = cloud.to_image()
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    image.save(partial, format="PNG")
    os.replace(partial, path)
