"""Step 3 of the study: anomaly scores and their metrics, the latent space, and the
book's figures and tables."""
