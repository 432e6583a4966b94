"""The study's design: the widths every network is measured at, and the methods' names."""

import numpy as np

SWITCHES4 = [0.25, 0.5, 0.75, 1.0]
SWITCHES8 = [0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0]
RANGE = (0.25, 1.0)
STAGE_RATIO = 0.6
CALIBRATION_IMAGES = 2048
REPRESENTATIVE_IMAGES = 300
# The US-Nets paper's in-place distillation: soft targets only, from the first step, for every image.
PAPER_RULE = dict(distill_weight=1.0, distill_warmup_epochs=0.0, distill_ramp_epochs=0.0,
                  distill_temperature=1.0, distill_temperature_ramp=0.0, distill_gate=0.0)

# Human names of the methods (job groups).
LABELS = {
    "individual": "individual",
    "naive": "naive shared BN",
    "s4": "S-Net 4-switch",
    "s8": "S-Net 8-switch",
    "us": "US-Net (in-place distill.)",
    "us_nodistill": "US-Net without distill.",
    "us_oa": "US-Net + output averaging",
}


def grid_widths(n):
    """n widths evenly spaced in [0.25, 1.0] (rounded to 6 decimals)."""
    return [round(float(w), 6) for w in np.linspace(RANGE[0], RANGE[1], n)]
