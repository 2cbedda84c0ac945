"""The `tflm` runtime: TensorFlow Lite Micro built from a pinned source tree.

    tree = find_tree(tflm_dir)                      # --tflm-dir, TINYPIPE_TFLM_DIR, the user cache
    lib = plan_library(tree, opcodes, board)        # which sources, flags, kernel set
    options = write_library(project_dir, lib)       # lib/tflite-micro/library.json + [env] keys
    ref = TflmReference(model)                      # the tflite_micro interpreter, in a subprocess

tinypipe writes the PlatformIO library manifest for the tree itself, so every translation unit
that includes a TFLite Micro header (the library's and the project's own) gets the same flags.
"""
