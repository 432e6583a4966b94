"""What the studies share: jobs (`python -m training.main` subprocesses), the machine's records,
the per-width evaluation of trained networks, the claim checks and the study's constants."""
