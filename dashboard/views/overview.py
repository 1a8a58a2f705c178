"""Overview: what Switchyard is, which flow families run, and the state of the work."""

from __future__ import annotations

import streamlit as st

from core.settings import get_settings
from dashboard import brief_data, data
from db.webpages import PageStatus

RECENT = 10
FAMILIES = """
| family | what | state |
|---|---|---|
| collection | web pages fetched to count a word | **live** |
| collection | articles from five content platforms for keyword briefs | **live** |
| collection | social accounts' followers, followings and profiles | to come |
| actions | like and follow jobs with quotas, scheduled posts, reposts, hashtags, notices | to come |
| mailing dispatch | mailings sent to a notification gateway inside a time window | **live** |
| brief analysis | keywords, keyword tables, word clouds, one zip per job | **live** |
"""

st.title("Switchyard")
st.markdown(
    "Switchyard is one Prefect data-flow platform that replaces five Celery systems. Flows collect, "
    "act, dispatch mailings and analyse briefs; this dashboard shows their results and starts runs, "
    "and the Prefect UI shows the runs themselves, their schedules and logs."
)

st.subheader("Flow families")
st.markdown(FAMILIES)

st.subheader("Web pages by status")
totals = data.page_totals()
for column, status in zip(st.columns(len(PageStatus)), PageStatus, strict=True):
    column.metric(status.value.replace("_", " ").capitalize(), totals[status], border=True)

st.subheader("Recent requests")
summaries = data.recent_requests(limit=RECENT)
if summaries:
    st.table(data.requests_frame(summaries).drop(columns="done"), hide_index=True)
else:
    st.info("No requests yet: start one on the Web pages page.")

st.subheader("Mailings")
mailings = data.mailing_totals()
st.markdown(
    f"**{mailings.mailings}** mailings · messages: **{mailings.sent}** sent, **{mailings.failure}** failed, "
    f"**{mailings.pending}** pending"
)

st.subheader("Briefs")
briefs = brief_data.brief_totals()
st.markdown(
    f"**{sum(briefs.values())}** briefs · "
    + ", ".join(f"**{count}** {status.value}" for status, count in briefs.items() if count)
)

st.subheader("Daily reports")
reports = data.recent_reports(limit=7)
if reports:
    st.dataframe(data.reports_frame(reports), hide_index=True)
    for stored in reports:
        emailed = "e-mailed" if stored.emailed_at else f"not e-mailed: {stored.email_error or 'not sent'}"
        with st.expander(f"Report of {stored.day.isoformat()} ({stored.timezone}), {emailed}"):
            st.markdown(stored.markdown)
else:
    st.info(
        "No daily report yet: the daily-report deployment builds one each morning "
        "(or `python -m cli reports daily`)."
    )

webpages_link, mailings_link, briefs_link, prefect_link = st.columns(4)
webpages_link.page_link(
    "views/webpages.py", label="Count a word on web pages", icon=":material/travel_explore:"
)
mailings_link.page_link("views/mailings.py", label="Send a mailing", icon=":material/sms:")
briefs_link.page_link("views/briefs.py", label="Order a brief", icon=":material/article:")
prefect_link.page_link(
    get_settings().prefect_ui_url, label="Prefect UI: runs, schedules, logs", icon=":material/open_in_new:"
)
