"""Word clouds drawn with sizes opened lazily (measured by scaling when sure not to fit, the last few kept
open) are the images wordcloud draws on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import wordcloud.wordcloud
from PIL import ImageFont

from core.fonts import cjk_font
from rules import brief_cloud
from rules.brief_cloud import OPEN_SIZES, CachedFonts, SizedFont, draw_cloud

FREQUENCIES = {
    "咖啡": 120, "新能源汽车": 95, "人工智能": 80, "续航": 41, "价格": 37, "体验": 33, "市场": 29, "品牌": 21,
    "补贴": 18, "直播": 15, "周末": 12, "学校": 9, "阳光": 7, "技术创新": 5, "消费": 4, "数据": 3, "音乐": 2,
}  # fmt: skip
# Latin words (narrow glyphs, descenders, symbols), one long word, ties, a lone word: other routes
# through wordcloud's search for sizes.
OTHER_FREQUENCIES = (
    {"iPhone": 50, "Wi-Fi": 44, "gggjjjyyy": 30, "AI": 30, "x": 12, "咖啡MMMMWWWW": 9, "ok": 3},
    {"中华人民共和国新能源汽车产业发展规划": 10, "咖啡": 9, "续航": 1},
    {"一": 5, "二": 5, "三": 5, "四": 5},
    {"无内容": 1},
)


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


@pytest.mark.parametrize("frequencies", [FREQUENCIES, *OTHER_FREQUENCIES])
def test_each_cloud_is_the_one_wordcloud_draws_alone(
    frequencies: dict[str, int], font: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draw_cloud(tmp_path / "sized.png", frequencies, font=font, empty_text="无", max_words=200)
    monkeypatch.setattr(wordcloud.wordcloud, "ImageFont", ImageFont)
    draw_cloud(tmp_path / "plain.png", frequencies, font=font, empty_text="无", max_words=200)
    assert (tmp_path / "sized.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_sizes_too_large_for_the_canvas_are_not_opened(font: Path, tmp_path: Path) -> None:
    """wordcloud tries the first word at every size from the canvas height (600) down: ~900 opens."""
    brief_cloud._opened.cache_clear()
    draw_cloud(tmp_path / "cloud.png", FREQUENCIES, font=font, empty_text="无", max_words=200)
    opened = brief_cloud._opened.cache_info().misses
    assert opened < 250, opened


def test_a_size_is_measured_for_real_unless_surely_too_large(font: Path) -> None:
    def measure(size: int) -> tuple[float, ...]:
        return SizedFont(str(font), size).getbbox("咖啡", "L", anchor="lt")

    def real(size: int) -> tuple[float, ...]:
        return ImageFont.truetype(str(font), size).getbbox("咖啡", "L", anchor="lt")

    brief_cloud._measured.clear()
    assert measure(600) == real(600)  # the first measure of a text is real
    brief_cloud._opened.cache_clear()
    assert max(measure(500)) > 900  # scaled from 600: sure to be larger than the canvas (800 × 600)
    assert brief_cloud._opened.cache_info().misses == 0
    assert measure(300) == real(300)  # 2 × ~300 px may fit: measured for real
