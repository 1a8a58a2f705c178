"""The Switchyard dashboard: ``streamlit run dashboard/app.py``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"  # not "pages/": that name turns on Streamlit's legacy page mode

st.set_page_config(page_title="Switchyard", layout="wide")
st.navigation(
    [
        st.Page(VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(
            VIEWS / "webpages.py", title="Web pages", icon=":material/travel_explore:", url_path="webpages"
        ),
        st.Page(VIEWS / "mailings.py", title="Mailings", icon=":material/sms:", url_path="mailings"),
        st.Page(VIEWS / "briefs.py", title="Briefs", icon=":material/article:", url_path="briefs"),
        st.Page(VIEWS / "growth.py", title="Growth", icon=":material/group_add:", url_path="growth"),
        st.Page(VIEWS / "channels.py", title="Channels", icon=":material/campaign:", url_path="channels"),
    ]
).run()
