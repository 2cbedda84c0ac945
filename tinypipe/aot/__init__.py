"""Ahead-of-time compilation of an int8 `.tflite` into plain C: lowering, memory plan, codegen."""
