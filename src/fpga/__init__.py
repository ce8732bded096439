"""Step 5 of the study: hls4ml conversion (with our instance-norm port), bit-accurate
emulation of the firmware, resource and latency estimates, the design search and the
feasibility verdict."""
