"""Reproduce the S-Nets / US-Nets claims on Fashion-MNIST: `python -m studies.claims [--epochs=N]`.

Trains, with one model family (the small MobileNet v1 for 28x28 inputs), one budget (the same
epochs, batch, learning rate and schedule for every job) and the same seeds:

- individual networks at 0.25 / 0.5 / 0.75 / 1.0 (every seed of --seeds);
- a naive network: the 4 switches with ONE shared BN (first seed);
- a 4-switch S-Net [0.25, 0.5, 0.75, 1.0] (every seed);
- an 8-switch S-Net [0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0] (first seed);
- a US-Net [0.25, 1.0] with in-place distillation (every seed), one without it and one with
  output averaging (first seed).

Each job is one `python -m training.main` subprocess into its own folder under --out, skipped when
its results.json exists (an interrupted reproduction resumes): `jobs`. Then every network is
evaluated in this process on the test images: at the switches, at 20 widths in [0.25, 1.0] after BN
calibration (networks without a BN for a width get one: `probe`), the US-Net at nonuniform widths
(one stage at 0.6 of the global width) and the fp32 and int8 TFLite files of the US-Net and the
S-Net: `evaluate`, cached in each job's eval.json. Last, the claims are checked (`claims`,
`analysis`) and docs/results.md is written with the tables (`report`) and PNG plots in
docs/results/ (`plots`; --quick: OUT/results.md and OUT/results/). The command line: `cli`.

`python -m studies.budget` is the in-place distillation study (`studies/budget/`).
"""
