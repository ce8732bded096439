"""JointVAE anomaly detection on jet images: data generation, models, scores, FPGA study."""

__version__ = "0.1.0"
