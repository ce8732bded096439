"""Every number this compendium quotes from the study, each with where it stands.

Sources: the thesis (L. Valente, *A Variational Autoencoder Application for real-time
Anomaly Detection at CMS*, University of Bologna, 2022), cited by section, table and
figure; and the ISGC 2023 paper (Valente, Anzalone, Lorusso, Bonacorsi), cited by table.
The thesis's Tables 3.3-3.5 are the paper's Tables 2-4. Chapters and modules read the
numbers from here and cite the ``source`` next to them; none is typed anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quoted:
    """Numbers quoted from the study and where a reader finds them."""

    values: Any
    source: str


#: Training of the full joint VAE: the number of epochs of the model of Table 3.1 and the weight
#: beta of both KL terms in the loss.
TRAINING = Quoted({"epochs": 8, "beta": 3000}, "thesis section 3.3.3 (training details) and Table 3.1")

#: Training metrics after ``TRAINING`` epochs, (training, validation) per metric.
TABLE_3_1 = Quoted(
    {"loss": (6.053, 6.061), "bce": (6.051, 6.060), "kl_cont": (4.24e-4, 4.47e-4),
     "kl_disc": (2.83e-4, 4.47e-4), "mse": (0.190, 0.188), "psnr": (40.37, 40.43),
     "ssim": (0.942, 0.942)},
    "thesis section 3.3.3, Table 3.1")

#: Full float encoder, KL scores: (AUC [%], TPR at FPR = 10% [%]).
PAPER_TABLE_1 = Quoted(
    {"kl_cont": (86.46, 58.10), "kl_disc": (73.63, 52.74), "kl_total": (86.63, 58.34)},
    "ISGC 2023 paper, Table 1 (thesis section 3.4, Figure 3.11)")

#: Full model, reconstruction scores: AUC [%] read from the ROC legends.
FIGURE_3_10 = Quoted(
    {"bce": 84.5, "mse": 38.5, "dice": 84.5, "total": 84.5},
    "thesis section 3.4, Figure 3.10 (ROC legends)")

#: Reduced encoders, KL scores: (TPR at FPR = 10% [%], AUC [%]) per (model, score).
TABLE_3_3 = Quoted(
    {("reduced float", "kl_disc"): (31.46, 68.29),
     ("reduced float", "kl_cont"): (63.48, 84.52),
     ("reduced float", "kl_total"): (63.63, 84.64),
     ("quantized <16,6>", "kl_disc"): (51.67, 77.38),
     ("quantized <16,6>", "kl_cont"): (59.79, 80.88),
     ("quantized <16,6>", "kl_total"): (60.03, 81.17)},
    "thesis section 3.5.1, Table 3.3 (paper Table 2)")

#: Energy per layer of the float reduced encoder [nJ] (QTools, 45 nm).
TABLE_3_2 = Quoted(
    {"dconv_b0": 87.9, "conv1_b0_0": 1382.4, "conv2_b0_0": 1382.4, "dconv_b1": 432.0,
     "conv1_b1_0": 540.0, "conv2_b1_0": 540.0, "conv1_b1_1": 540.0, "conv2_b1_1": 540.0,
     "dconv_b2": 27.0, "conv1_b2_0": 5.4, "conv2_b2_0": 5.4, "conv_fin": 2.7,
     "z_categorical": 1.5, "z_mean": 2.4, "z_var": 2.4},
    "thesis section 3.5, Table 3.2")

#: Vivado HLS's limit on the parameters of one layer, as the thesis and the paper state it.
HLS_PARAMETER_LIMIT = Quoted({"thesis": 1024, "paper": 2048},
                             "thesis section 3.5; ISGC 2023 paper, section 3.4, for Vivado HLS 2020.1")

#: Total energy of the reduced encoders [uJ] (QTools, 45 nm).
TABLE_3_4 = Quoted({"reduced float": 5.4957, "quantized <16,6>": 3.3434},
                   "thesis section 3.5.1, Table 3.4 (paper Table 3)")

#: Vivado HLS 2020.1 estimates for blocks of the quantized reduced encoder on the U250 at
#: 5 ns: (shape (h_in, w_in, d_in, d_out) as printed, DSP, LUT, FF, BRAM_18K). The
#: conv2_b0_0 row was not synthesized: it is conv2_b1_1 times 16 (the thesis's eq. 3.14).
TABLE_3_5 = Quoted(
    {"conv2_b0_0": ((20, 20, 16, 10), 752, 6_189_696, 229_536, 288),
     "conv2_b1_1": ((10, 10, 20, 5), 47, 386_856, 14_346, 18),
     "dconv_b2": ((5, 5, 4, 4), 15, 309_544, 9_352, 4),
     "final block": ((5, 5, 4, 2), 851, 91_763, 28_074, 377)},
    "thesis section 3.6.2, Table 3.5 and eq. 3.14 (paper Table 4)")

#: The study's FPGA flow: the card, its target clock period [ns] and the HLS tool.
HARDWARE = Quoted({"card": "AMD Xilinx Alveo U250", "clock_ns": 5.0, "tool": "Vivado HLS 2020.1"},
                  "thesis section 3.6")

#: C-simulation of the HLS encoder: 31 h 53 min for about 50,000 test images.
CSIM = Quoted({"seconds": 31 * 3600 + 53 * 60, "images": 50_000},
              "thesis section 3.6.2")

#: The study's sample: jets per class and the train / test split.
SAMPLE = Quoted({"jets_per_class": 200_000, "train_fraction": 0.75},
                "thesis section 3.2, Figure 3.1")
