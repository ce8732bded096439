"""Step 1 of the study: jets from Pythia 8 + FastJet, the detector stand-in, the
preprocessing into 40x40 images, the HDF5 files and the seeded splits."""
