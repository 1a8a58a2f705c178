"""Web pages: count a word on web pages, and follow the results while they come in."""

from __future__ import annotations

import streamlit as st

from core.settings import get_settings
from dashboard import data
from db.webpages import RequestSummary
from deployments import runs

RECENT = 50
REFRESH_SECONDS = 2
SELECTED = "selected_request"
# st.table is real HTML (readable, copyable, checked by the browser test) but puts every row in the
# page; past this many pages the virtualised st.dataframe grid is used instead.
TABLE_ROWS = 200


def submit(urls_text: str, word: str) -> None:
    """Store the request, say what was accepted and refused, and start counting it."""
    try:
        created = data.submit_request(urls_text, word)
    except ValueError as exc:
        st.error(f"Nothing stored: {exc}.")
        return
    st.session_state[SELECTED] = created.id
    st.success(f"Request {created.id} stored: {created.accepted} URLs accepted")
    if created.refused:
        refused = "\n".join(f"- `{url}`: {reason}" for url, reason in created.refused.items())
        st.warning(f"{len(created.refused)} URLs refused (stored as failed):\n{refused}")
    if created.accepted:
        st.info(runs.start_processing(created.id))


def request_label(summary: RequestSummary) -> str:
    """How a request is named in the picker (stable while its pages are counted)."""
    return (
        f"#{summary.id} · {summary.word!r} · {summary.total} URLs · {summary.created_at:%Y-%m-%d %H:%M} UTC"
    )


def show_pages(summary: RequestSummary) -> None:
    """Progress and the per-URL results of one request."""
    done = summary.finished + summary.failed
    st.progress(data.done_share(summary), text=f"{done} of {summary.total} pages done")
    pages = data.pages_frame(summary.id)
    if len(pages) <= TABLE_ROWS:
        st.table(pages, hide_index=True)
    else:
        st.dataframe(pages, hide_index=True, column_config={"url": st.column_config.LinkColumn("url")})


def show_requests(refreshing: bool) -> None:
    """Recent requests and the pages of the selected one; reruns the page when refreshing should change."""
    summaries = data.recent_requests(limit=RECENT)
    if not summaries:
        st.info("No requests yet.")
        return
    st.subheader("Recent requests")
    st.dataframe(
        data.requests_frame(summaries),
        hide_index=True,
        column_config={"done": st.column_config.ProgressColumn("done", min_value=0.0, max_value=1.0)},
    )
    by_id = {summary.id: summary for summary in summaries}
    selected = st.selectbox(
        "Request", by_id, format_func=lambda request_id: request_label(by_id[request_id]), key=SELECTED
    )
    st.subheader(f"Pages of request {selected}")
    show_pages(by_id[selected])
    if refreshing != (data.unfinished_pages() > 0):
        st.rerun(scope="app")


st.title("Web pages")
st.caption("Count how often a word appears on web pages: whole words, any case, visible text only.")
with st.form("count"):
    urls_text = st.text_area("Web addresses (one per line)", placeholder="https://example.com/", height=140)
    word = st.text_input("Word", value=get_settings().webpages.default_word)
    submitted = st.form_submit_button("Count", type="primary")
if submitted:
    submit(urls_text, word)

refreshing = data.unfinished_pages() > 0
st.fragment(run_every=REFRESH_SECONDS if refreshing else None)(show_requests)(refreshing)
