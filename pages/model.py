"""Model: design the hidden layers of the network; the output layer follows from the task."""

import streamlit as st

from ui import Keys, init_state, require

init_state()
st.title("Model")
require(Keys.DATASET, fix_page="pages/data.py", message="Load a CSV or pick a sample first.")
