"""Predict: download a trained model, or use it on new rows."""

import streamlit as st

from ui import Keys, init_state

init_state()
st.title("Predict")
if not st.session_state[Keys.RUNS]:
    st.info("Train a model first.", icon=":material/info:")
    st.page_link("pages/train.py")
    st.stop()
