"""The brief's word clouds: PNGs drawn with wordcloud's default colours, without importing pyplot."""

from __future__ import annotations

import os
import unicodedata
import uuid
from pathlib import Path

from matplotlib import colormaps
from wordcloud import WordCloud
from wordcloud.wordcloud import colormap_color_func

CLOUD_SIZE = (800, 600)


COLORMAP = "viridis"  # wordcloud's default


class ColormapColors(colormap_color_func):
    """wordcloud's own colouring (the same colours), its colormap taken from matplotlib's registry:
    wordcloud's takes it from ``matplotlib.pyplot``, whose import costs ~0.3 s of CPU per process."""

    def __init__(self, colormap: str) -> None:
        self.colormap = colormaps[colormap]


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
        random_state=42,
        color_func=ColormapColors(COLORMAP),
    )
    cloud.generate_from_frequencies(drawable(frequencies) or {empty_text: 1})
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    cloud.to_image().save(partial, format="PNG")
    os.replace(partial, path)
