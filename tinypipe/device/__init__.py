"""The device layer: the serial protocol, the monitor, and the runners that put a model on a
host build, QEMU or a real board (host, qemu, target). bench, validate and compare sit on it."""
