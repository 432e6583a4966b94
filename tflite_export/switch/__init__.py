"""The desktop twin of the phone app's width switching (stdlib only but for LiteRT's interpreter):

- `policy`: the switching policy (`WidthSelector`), the twin of the Java core's and the page's;
- `latency_tracker`: each model's latency statistics;
- `trace_runner`: replays recorded latency traces (android_demo/traces) through the policy;
- `background_load`: busy processes that simulate a background load;
- `cli`: `python -m tflite_export.switch EXPORT_DIR --budget_ms=...` on real .tflite files.
"""
