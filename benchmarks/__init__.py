"""Benchmarks of slimkeras against plain Keras and keras.applications (`python -m benchmarks.run`)."""
