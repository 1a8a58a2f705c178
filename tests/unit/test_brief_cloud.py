"""Word clouds drawn with each font size opened once are the images wordcloud draws on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import wordcloud.wordcloud
from PIL import ImageFont

from core.fonts import cjk_font
from rules import brief_cloud
from rules.brief_cloud import OPEN_SIZES, CachedFonts, draw_cloud

FREQUENCIES = {
    "咖啡": 120, "新能源汽车": 95, "人工智能": 80, "续航": 41, "价格": 37, "体验": 33, "市场": 29, "品牌": 21,
    "补贴": 18, "直播": 15, "周末": 12, "学校": 9, "阳光": 7, "技术创新": 5, "消费": 4, "数据": 3, "音乐": 2,
}  # fmt: skip


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cjk_font(None, tmp_path_factory.mktemp("fonts"))


def test_wordcloud_draws_with_the_cached_fonts() -> None:
    assert isinstance(wordcloud.wordcloud.ImageFont, CachedFonts)
    assert wordcloud.wordcloud.ImageFont.TransposedFont is ImageFont.TransposedFont  # the rest is PIL's


def test_a_cloud_drawn_with_cached_fonts_is_the_one_wordcloud_draws_alone(
    font: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    brief_cloud._opened.cache_clear()
    draw_cloud(tmp_path / "cached.png", FREQUENCIES, font=font, empty_text="无", max_words=200)
    first = brief_cloud._opened.cache_info()
    assert first.hits > 0 and first.misses > 0  # sizes asked again came from the cache
    draw_cloud(tmp_path / "again.png", FREQUENCIES, font=font, empty_text="无", max_words=200)
    monkeypatch.setattr(wordcloud.wordcloud, "ImageFont", ImageFont)  # wordcloud's own way
    draw_cloud(tmp_path / "plain.png", FREQUENCIES, font=font, empty_text="无", max_words=200)
    plain = (tmp_path / "plain.png").read_bytes()
    assert (tmp_path / "cached.png").read_bytes() == plain
    assert (tmp_path / "again.png").read_bytes() == plain


def test_only_a_few_sizes_are_kept_open(font: Path, tmp_path: Path) -> None:
    brief_cloud._opened.cache_clear()
    draw_cloud(tmp_path / "cloud.png", FREQUENCIES, font=font, empty_text="无", max_words=200)
    assert brief_cloud._opened.cache_info().currsize == OPEN_SIZES  # each open size maps the whole file


def test_other_calls_go_to_pil_unchanged(font: Path) -> None:
    assert CachedFonts.truetype(str(font), 40, index=0) is not CachedFonts.truetype(str(font), 40, index=0)
