"""PlatformIO development platform for tinypipe's QEMU boards (see builder/main.py)."""

from platformio.public import PlatformBase


class TinypipeqemuPlatform(PlatformBase):
    """No packages: the toolchain is the system arm-none-eabi-gcc and QEMU is qemu-system-arm."""
