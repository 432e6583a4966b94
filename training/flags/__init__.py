"""The flagfiles of `python -m training.main`, shipped as package data (found by bare name)."""
