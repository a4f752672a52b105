"""Step 1, the data: read a table, profile its columns, infer the task, split and preprocess."""
