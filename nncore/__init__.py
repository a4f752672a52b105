"""nncore: the engine of the studio, from a raw CSV to a trained, portable Keras model.

It never imports Streamlit, and importing it does not import TensorFlow: the modules that need
Keras import it themselves, so the UI process can use the rest without paying for TensorFlow.
"""

from nncore.errors import ConfigError, DataError, JobError, ModelFileError, NNCoreError

__all__ = ["ConfigError", "DataError", "JobError", "ModelFileError", "NNCoreError"]
