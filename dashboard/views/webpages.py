"""Web pages: count a word on web pages, and follow the results while they come in."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.settings import get_settings
from dashboard import data
from db.webpages import CreatedRequest, RequestSummary
from deployments import runs

RECENT = 50
REFRESH_SECONDS = 2
SELECTED = "selected_request"
URLS = "urls_text"
WORD = "word"
SUBMITTED = "submitted_request"  # what the last submit came to, shown under the form until the next
# st.table is real HTML (readable, copyable, checked by the browser test) but puts every row in the
# page; past this many pages the virtualised st.dataframe grid is used instead.
TABLE_ROWS = 200


@dataclass(frozen=True)
class Submitted:
    """The outcome of one submit: the stored request and the run started for it, or why nothing was stored."""

    created: CreatedRequest | None = None
    started: str = ""
    error: str = ""


def submit() -> None:
    """Store the form's request and start counting it; on success clear the URLs, so a second click
    cannot store it twice. A callback: it runs before the page is drawn again."""
    try:
        created = data.submit_request(st.session_state[URLS], st.session_state[WORD])
    except ValueError as exc:
        st.session_state[SUBMITTED] = Submitted(error=f"Nothing stored: {exc}.")
        return
    st.session_state[SELECTED] = created.id
    st.session_state[URLS] = ""
    started = runs.start_processing(created.id) if created.accepted else ""
    st.session_state[SUBMITTED] = Submitted(created=created, started=started)


def show_submitted(submitted: Submitted) -> None:
    """Say what was stored, accepted and refused, and whether counting started."""
    created = submitted.created
    if created is None:
        st.error(submitted.error)
        return
    refused = "\n".join(f"- `{url}`: {reason}" for url, reason in created.refused.items())
    if not created.accepted:
        st.warning(
            f"Request {created.id} stored, but none of its URLs can be fetched, so nothing will be "
            f"counted: {len(created.refused)} refused (stored as failed):\n{refused}"
        )
        return
    st.success(f"Request {created.id} stored: {created.accepted} URLs accepted")
    if created.refused:
        st.warning(f"{len(created.refused)} URLs refused (stored as failed):\n{refused}")
    st.info(submitted.started)


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
st.session_state.setdefault(WORD, get_settings().webpages.default_word)
with st.form("count"):
    st.text_area("Web addresses (one per line)", placeholder="https://example.com/", height=140, key=URLS)
    st.text_input("Word", key=WORD)
    st.form_submit_button("Count", type="primary", on_click=submit)
if SUBMITTED in st.session_state:
    show_submitted(st.session_state[SUBMITTED])

refreshing = data.unfinished_pages() > 0
st.fragment(run_every=REFRESH_SECONDS if refreshing else None)(show_requests)(refreshing)
