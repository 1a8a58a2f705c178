"""Web pages: count a word on web pages, and follow the results while they come in."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.display import moment, plural
from core.settings import get_settings
from dashboard import data, widgets
from db.webpages import CreatedRequest, RequestSummary
from deployments import runs

RECENT = 50
SELECTED = "selected_request"
URLS = "urls_text"
WORD = "word"
COUNT = "count_clicked"
RECOUNTED = "recounted"  # (request id, what the last re-count did)
# st.table is real HTML (readable, copyable, checked by the browser test) but puts every row in the
# page; past this many pages the virtualised st.dataframe grid is used instead.
TABLE_ROWS = 200


def stored(created: CreatedRequest) -> str:
    return f"Request {created.id} stored: {plural(created.accepted, 'URL')} accepted."


def refusals(created: CreatedRequest) -> list[str]:
    """The refused URLs and why; when none is left to fetch, that nothing will be counted."""
    if not created.refused:
        return []
    listed = "\n".join(f"- `{url}`: {reason}" for url, reason in created.refused.items())
    if not created.accepted:
        return [
            f"None of these URLs can be fetched, so nothing will be counted (stored as failed):\n{listed}"
        ]
    return [f"{plural(len(created.refused), 'URL')} refused (stored as failed):\n{listed}"]


def start(created: CreatedRequest) -> str | None:
    """Start counting now, when there is something to count."""
    return runs.start_processing(created.id) if created.accepted else None


def submit(messages: DeltaGenerator) -> None:
    """Store the submitted form (the form is drawn after this, so its URLs can be cleared once stored)."""
    urls_text, word = st.session_state[URLS], st.session_state[WORD]
    with messages:
        created = widgets.submit_and_start(
            "webpages",
            (urls_text, word),
            store=lambda: data.submit_request(urls_text, word),
            stored=stored,
            start=start,
            warnings=refusals,
        )
    if created is not None:
        st.session_state[URLS] = ""
        st.session_state[SELECTED] = created.id


def request_label(summary: RequestSummary) -> str:
    """How a request is named in the picker (stable while its pages are counted)."""
    return f"#{summary.id} · {summary.word!r} · {plural(summary.total, 'URL')} · {moment(summary.created_at)}"


def recount(summary: RequestSummary) -> None:
    """Put the request's failed pages back in the queue and start counting them (a button's callback)."""
    recounted = data.recount_request(summary.id)
    said = [f"{plural(recounted, 'failed page')} of request {summary.id} queued to be counted again."]
    if summary.refused:
        said.append(
            f"Not re-counted: {plural(summary.refused, 'URL')} refused when the request was stored, "
            "which would be refused the same way."
        )
    if recounted:
        said.append(runs.start_processing(summary.id))
    st.session_state[RECOUNTED] = (summary.id, " ".join(said))


def show_recount(summary: RequestSummary) -> None:
    """The re-count button while the request has pages that failed when fetched, and what it last did."""
    if summary.recountable:
        st.button(
            "Re-count failed pages",
            on_click=recount,
            args=(summary,),
            help="Fetch and count again the pages that failed. URLs refused when the request was stored "
            "stay failed: they would be refused the same way.",
        )
    last = st.session_state.get(RECOUNTED)
    if last and last[0] == summary.id:
        st.info(last[1])


def show_pages(summary: RequestSummary) -> None:
    """Progress, the re-count button and the per-URL results of one request."""
    done = summary.finished + summary.failed
    st.progress(data.done_share(summary), text=f"{done} of {summary.total} pages done")
    show_recount(summary)
    pages = data.pages_frame(summary.id)
    if len(pages) <= TABLE_ROWS:
        st.table(pages, hide_index=True)
    else:
        st.dataframe(pages, hide_index=True, column_config={"url": st.column_config.LinkColumn("url")})


def show_requests() -> None:
    """Recent requests and the pages of the selected one."""
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


st.title("Web pages")
st.caption("Count how often a word appears on web pages: whole words, any case, visible text only.")
st.session_state.setdefault(WORD, get_settings().webpages.default_word)
form, messages = st.container(), st.container()
if st.session_state.get(COUNT):  # a button's click is known before it is drawn
    submit(messages)
with form, st.form("count"):
    st.text_area("Web addresses (one per line)", placeholder="https://example.com/", height=140, key=URLS)
    st.text_input("Word", key=WORD)
    st.form_submit_button("Count", type="primary", key=COUNT)

widgets.live(show_requests, busy=lambda: data.unfinished_pages() > 0)
