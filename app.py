"""NN Studio: the router. Each step of the workflow is one page in pages/."""

import streamlit as st

import ui

st.set_page_config(page_title="NN Studio", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("pages/model.py", title="Model", icon=":material/account_tree:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/insights:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
]

page = st.navigation(PAGES)
ui.init_state()  # the session's workspace, from the address, before any page draws
ui.workspace_sidebar()
page.run()
