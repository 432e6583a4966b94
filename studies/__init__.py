"""Study harnesses on top of training: they train networks with `python -m training.main`,
evaluate them and write their sections of docs/results.md. Run from a checkout.

- `python -m studies.claims`: the papers' claims on Fashion-MNIST (`studies/claims/`).
- `python -m studies.budget`: the in-place distillation rules across training budgets
  (`studies/budget/`).
- `studies/common/`: what both share: the job runner, the machine's records, the per-width
  evaluation of a trained network, the claim checks and the study's constants.
"""
