"""Step 2, learning: build the Keras network, train it, look inside it, score it."""
