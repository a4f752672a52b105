"""Evaluate: how well a trained network does on rows it did not learn from."""

import streamlit as st

from ui import Keys, init_state

init_state()
st.title("Evaluate")
if not st.session_state[Keys.RUNS]:
    st.info("Train a model first.", icon=":material/info:")
    st.page_link("pages/train.py")
    st.stop()
