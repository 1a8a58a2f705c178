"""Briefs: order a keyword brief from the content platforms, follow it, read and download the results."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.display import duration, moment, plural
from core.progress import share
from core.settings import PLATFORMS
from dashboard import brief_data
from dashboard.widgets import live, submit_and_start
from db.briefs import COUNT_FIELDS, UNFINISHED, BriefStatus, BriefSummary, status_label
from deployments import runs

SELECTED = "selected_brief"
NOTICES = "brief_notices"  # (kind, text) said by the last action, shown after its rerun
AT_WORK = "briefs_at_work"  # ids of briefs seen unfinished, to say when they end
ARTICLE_ROWS = 500


def submit_form() -> None:
    """The order form: keywords, platforms, an optional range of post days."""
    with st.form("brief"):
        keywords = st.text_area(
            "Keywords (one per line, or separated by commas)", placeholder="新能源\n电动车"
        )
        platforms = st.multiselect("Platforms", PLATFORMS, default=list(PLATFORMS))
        left, right = st.columns(2)
        since = left.date_input("Posted from (optional)", value=None)
        until = right.date_input("Posted until (optional)", value=None)
        submitted = st.form_submit_button("Order brief", type="primary")
    if not submitted:
        return
    values = (keywords, tuple(platforms), since, until)
    brief_id = submit_and_start(
        "brief",
        values,
        store=lambda: brief_data.submit_brief(keywords, platforms, since, until),
        stored=lambda brief_id: f"Brief {brief_id} stored.",
        start=runs.start_collection,
    )
    if brief_id is not None:
        st.session_state[SELECTED] = brief_id


def search_briefs() -> list[BriefSummary]:
    """Briefs found by keyword, status and submission days."""
    left, middle, right = st.columns(3)
    keyword = left.text_input("Keyword contains")
    status = middle.selectbox(
        "Status", [None, *BriefStatus], format_func=lambda s: "any" if s is None else s.value
    )
    days = right.date_input("Submitted between", value=(), help="pick the first and the last day")
    picked = tuple(days) if isinstance(days, tuple | list) else (days,)
    submitted = picked if len(picked) == 2 else None
    if len(picked) == 1:
        right.caption("Pick the last day too: until then briefs of every day are shown.")
    return brief_data.find_briefs(keyword, status, submitted)


def show_progress(brief: BriefSummary) -> None:
    """Status, times and the searches per platform × keyword."""
    searches = brief_data.searches_frame(brief.id)
    done = int((~searches["status"].isin(["pending", "running"])).sum()) if not searches.empty else 0
    st.progress(share(done, len(searches)), text=f"{done} of {len(searches)} searches done")
    columns = st.columns(4)
    columns[0].metric("Status", status_label(brief))
    stored = int(searches["articles"].sum()) if not searches.empty else 0
    columns[1].metric("Articles", brief.articles or stored)  # counted on the brief once it is collected
    columns[2].metric("Submitted", moment(brief.created_at))
    took = brief_data.seconds_between(brief.created_at, brief.finished_at)
    columns[3].metric("Submit → finished", "…" if took is None else duration(took))
    if brief.status == BriefStatus.FAILED:
        st.error(f"The brief failed: {brief.last_error}")
    elif brief.last_error:
        st.warning(f"Not everything could be collected: {brief.last_error}")
    offer_recollect(brief)
    if not searches.empty:
        st.dataframe(searches, hide_index=True)


def offer_recollect(brief: BriefSummary) -> None:
    """A button that collects again only the searches that came up short (a failed brief: all that did)."""
    short = brief_data.short_count(brief.id)
    if brief.status != BriefStatus.FAILED and not (brief.status == BriefStatus.FINISHED and short):
        return
    label = f"Re-collect the {plural(short, 'short search', 'short searches')}" if short else "Run it again"
    if not st.button(label, key=f"recollect-{brief.id}", help="what was stored is kept"):
        return
    try:
        reopened = brief_data.recollect(brief.id)
    except ValueError as exc:
        st.error(f"Not re-collected: {exc}.")
        return
    said = f"Brief {brief.id}: {plural(reopened, 'search', 'searches')} to collect again."
    st.session_state[NOTICES] = [("success", said), ("info", runs.start_collection(brief.id))]
    st.rerun(scope="app")  # the brief is at work again: the page refreshes itself


def show_notices() -> None:
    """What the last action said, once (it survives the rerun the action caused)."""
    for kind, text in st.session_state.pop(NOTICES, []):
        getattr(st, kind)(text)


def notify_finished(briefs: list[BriefSummary]) -> None:
    """A notice for each brief seen at work in this session that has ended since."""
    at_work: set[int] = st.session_state.setdefault(AT_WORK, set())
    for brief in briefs:
        if brief.status in UNFINISHED:
            at_work.add(brief.id)
        elif brief.id in at_work:
            at_work.discard(brief.id)
            st.toast(f"Brief {brief.id} {status_label(brief)}: {plural(brief.articles, 'article')}")


def show_articles(brief: BriefSummary) -> None:
    """The brief's articles, filtered and sorted."""
    left, middle, right, sort = st.columns(4)
    platform = left.selectbox("Platform", [None, *brief.platforms], format_func=lambda p: p or "all")
    keyword = middle.selectbox("Keyword", [None, *brief.keywords], format_func=lambda k: k or "all")
    text = right.text_input("Text contains")
    order_by = sort.selectbox("Sort by", ["interaction", "post_time", *COUNT_FIELDS[:-1]])
    articles, total = brief_data.articles_frame(brief.id, platform, keyword, text, order_by, ARTICLE_ROWS)
    shown = f"{len(articles):,} of {total:,} articles" if len(articles) < total else plural(total, "article")
    st.caption(f"{shown} shown (at most {ARTICLE_ROWS:,}, the best by the chosen order)")
    st.dataframe(articles, hide_index=True, column_config={"url": st.column_config.LinkColumn("url")})


def show_charts(brief: BriefSummary) -> None:
    """Articles per platform and per day, and engagement per platform."""
    engagement = brief_data.engagement_frame(brief.id)
    per_day = brief_data.per_day_frame(brief.id)
    if engagement.empty:
        st.info("No articles to chart.")
        return
    left, right = st.columns(2)
    left.altair_chart(
        alt.Chart(engagement, title="Articles per platform").mark_bar().encode(x="platform:N", y="articles:Q")
    )
    long = engagement.melt(id_vars="platform", value_vars=["like", "share", "comment"], var_name="kind")
    right.altair_chart(
        alt.Chart(long, title="Engagement per platform")
        .mark_bar()
        .encode(x="platform:N", y="value:Q", color="kind:N")
    )
    per_day["day"] = pd.to_datetime(per_day["day"])
    st.altair_chart(
        alt.Chart(per_day, title="Articles per day")
        .mark_line(point=True)
        .encode(x="day:T", y="articles:Q", color="platform:N")
    )


def show_files(brief: BriefSummary) -> None:
    """Both word clouds and the zip of the finished brief."""
    if brief.status != BriefStatus.FINISHED:
        st.info("The word clouds and files appear when the brief is finished.")
        return
    left, right = st.columns(2)
    for column, name, caption in ((left, "content_wc.png", "Contents"), (right, "topic_wc.png", "Topics")):
        path = brief_data.brief_file(brief, name)
        if path:
            column.image(str(path), caption=f"{caption} word cloud")
    archive = brief_data.brief_file(brief, "zip")
    if archive:
        st.download_button(
            "Download the brief (zip)",
            archive.read_bytes(),
            file_name=f"brief-{brief.id}.zip",
            mime="application/zip",
        )
    else:
        st.error("The brief's zip file is missing from the data directory.")


def show_brief(brief_id: int) -> None:
    """Everything about one brief, in tabs."""
    brief = brief_data.get_brief(brief_id)
    if brief is None:
        st.error(f"Brief {brief_id} does not exist.")
        return
    st.subheader(f"Brief {brief.id}: {', '.join(brief.keywords)}")
    progress, articles, accounts, charts, files = st.tabs(
        ["Progress", "Articles", "Accounts", "Charts", "Files"]
    )
    with progress:
        show_progress(brief)
    with articles:
        show_articles(brief)
    with accounts:
        st.dataframe(brief_data.accounts_frame(brief.id), hide_index=True)
    with charts:
        show_charts(brief)
    with files:
        show_files(brief)


def show_briefs() -> None:
    """Found briefs and the selected one."""
    briefs = search_briefs()
    if not briefs:
        st.info("No briefs found.")
        return
    notify_finished(briefs)
    st.dataframe(brief_data.briefs_frame(briefs), hide_index=True)
    by_id = {brief.id: brief for brief in briefs}
    if st.session_state.get(SELECTED) not in by_id:
        st.session_state[SELECTED] = briefs[0].id
    selected = st.selectbox(
        "Brief",
        by_id,
        format_func=lambda brief_id: f"#{brief_id} · {', '.join(by_id[brief_id].keywords)}",
        key=SELECTED,
    )
    show_brief(selected)


st.title("Briefs")
st.caption(
    "Articles for your keywords from weibo, weixin, xiaohongshu, douyin and bilibili, analysed into files."
)
submit_form()
show_notices()
live(show_briefs, busy=brief_data.any_unfinished)
