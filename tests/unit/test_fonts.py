"""The word-cloud font: it draws the Chinese words it is given, and a Latin-only font is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import wordcloud
from PIL import Image

from core import fonts
from core.fonts import FontError, chinese_face, cjk_font, has_glyphs, packaged_font
from rules.brief_analysis import NO_TOPICS, analyse_brief_articles
from rules.brief_cloud import CLOUD_SIZE, draw_cloud
from rules.briefs import Article

# wordcloud's own default font: Latin only, it draws Chinese as boxes.
LATIN_FONT = Path(wordcloud.__file__).with_name("DroidSansMono.ttf")
TEXTS = ("数据分析让我们看清消费趋势。", "年轻人喜欢分享旅行和美食。", "人工智能改变了数据分析的方式。")


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cjk_font(None, tmp_path_factory.mktemp("fonts"))


def test_the_resolved_font_draws_the_top_words(tmp_path: Path, font: Path) -> None:
    articles = [
        Article(
            "weibo", str(n), f"https://weibo.example.com/{n}", "标题", text, datetime.now(UTC), keyword="数据"
        )
        for n, text in enumerate(TEXTS)
    ]
    analysis = analyse_brief_articles(
        articles, ["数据"], out_dir=tmp_path, brief_name="f", font=font, processes=1, jieba_dir=tmp_path / "j"
    )
    drawn = "".join(word.word for word in analysis.words)
    assert "数据分析" in {word.word for word in analysis.words}
    assert has_glyphs(font, drawn)
    assert not has_glyphs(LATIN_FONT, drawn)


def test_a_latin_only_configured_font_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FontError, match=r"no Chinese glyphs.*noto-cjk-sans-otc"):
        cjk_font(LATIN_FONT, tmp_path)


def test_a_missing_configured_font_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FontError, match="does not exist"):
        cjk_font(tmp_path / "nowhere.ttf", tmp_path)


def test_a_configured_cjk_font_is_used(tmp_path: Path, font: Path) -> None:
    assert cjk_font(font, tmp_path) == font


def test_the_packaged_collection_gives_its_simplified_chinese_face(tmp_path: Path) -> None:
    packaged = packaged_font()
    if packaged is None:
        pytest.skip("noto-cjk-sans-otc is not installed")
    assert chinese_face(packaged) == 2  # face 0 is Japanese
    extracted = cjk_font(packaged, tmp_path)
    assert extracted.parent == tmp_path
    assert has_glyphs(extracted, "中文数据简体")
    assert cjk_font(packaged, tmp_path) == extracted  # extracted once, then reused


def test_the_cloud_is_a_real_image_of_the_expected_size(tmp_path: Path, font: Path) -> None:
    path = tmp_path / "cloud.png"
    draw_cloud(path, {"数据": 10, "分析": 6, "消费": 3}, font=font, empty_text=NO_TOPICS, max_words=50)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == CLOUD_SIZE
        assert len(image.convert("L").getcolors(maxcolors=65_536) or ()) > 2  # words drawn, not blank


def test_the_font_is_looked_up_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lookups = []
    real = fonts.system_fonts
    monkeypatch.setattr(fonts, "system_fonts", lambda: lookups.append(1) or real())
    cjk_font.cache_clear()
    try:
        assert cjk_font(None, tmp_path) == cjk_font(None, tmp_path)
    finally:
        cjk_font.cache_clear()
    assert len(lookups) == 1
