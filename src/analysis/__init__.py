"""Step 3 of the study: anomaly scores and their metrics, the comparison of models and
baselines, the latent space, summaries of a training run, and the book's figures and tables."""
