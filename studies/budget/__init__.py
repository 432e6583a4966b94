"""The in-place distillation study: `python -m studies.budget [--budgets=8,16] [--seeds=0,1]`.

The distillation rules (`plan.VARIANTS`) across training budgets: the default flagfile's
US-Net and the same network without distillation at every budget and seed, the 4-switch
S-Net and the naive network at every budget (first seed), the other rules screened at the
first budget; each evaluated at the grid widths after calibration. `plan`: the jobs and the
analysis, `cli`: running it, `report`: its section of docs/results.md.
"""
