"""Step 5 of the study: hls4ml conversion (with our instance-norm port), bit-accurate
emulation of the firmware, resource and latency estimates, the design search and the
feasibility verdict; :mod:`src.fpga.firmware` runs the book's two models through it and
:mod:`src.fpga.plots` draws chapter 6's figures."""
