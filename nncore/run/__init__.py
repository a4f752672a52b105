"""Running the steps: one run from data to files, jobs in worker processes, tuning."""
