"""The FPGAs of the study: part names, clock and resources as Vivado counts them."""

from __future__ import annotations

from ..study import HARDWARE

#: Xilinx part of the Alveo U250 card used in the study.
U250_PART = "xcu250-figd2104-2L-e"
#: The study's target clock period [ns] (200 MHz).
CLOCK_NS = HARDWARE.values["clock_ns"]

#: Resources of the FPGAs of the study, as Vivado counts them (BRAM in 18 Kb halves).
#: Alveo U250 card (device xcu250-figd2104-2L-e) and Virtex UltraScale+ VU13P are the same die
#: size: 1,728K CLB LUTs, 3,456K CLB flip-flops, 12,288 DSP48E2 slices, 2,688 block RAMs of
#: 36 Kb (= 5,376 BRAM_18K, 94.5 Mb) and 1,280 UltraRAMs (Xilinx UltraScale+ product selection
#: guide XMP103, Virtex UltraScale+ table; Alveo U250 data sheet DS962). Vivado HLS reports the
#: xcu250 as BRAM_18K 5376, DSP 12288, FF 3456000, LUT 1728000, URAM 1280, and the study's
#: Table 3.5 percentages agree (288 BRAM_18K = 5 %, 377 = 7 %, 752 DSP = 6 %).
DEVICES: dict[str, dict[str, int]] = {
    "xcu250": {"DSP": 12_288, "LUT": 1_728_000, "FF": 3_456_000, "BRAM_18K": 5_376, "URAM": 1_280},
    "xcvu13p": {"DSP": 12_288, "LUT": 1_728_000, "FF": 3_456_000, "BRAM_18K": 5_376, "URAM": 1_280},
}
RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")


def device_capacity(part: str) -> dict[str, int]:
    """Resources of an FPGA part (``xcu250...`` or ``xcvu13p...``, any package/speed suffix)."""
    key = part.lower()
    for name, capacity in DEVICES.items():
        if key.startswith(name):
            return dict(capacity)
    raise ValueError(f"unknown FPGA part {part!r} (known: {', '.join(DEVICES)})")


