"""Step 3, what a run leaves: the portable model files, predictions, the model-file checks and
the generated script."""
