"""Step 2 of the study: the networks (joint VAE, VAE, AE, classifier, student), their
layers, losses and training, one folder format for all of them, and the registry of the
book's trained models."""
