"""The project's C extensions (everything else is in pyproject.toml): rtc.batch_receive (a
UDP socket's datagrams read with one recvmmsg, its SRTP media unprotected) and
rtc.batch_send (a frame's RTP packets protected and sent with one sendmmsg) and
rtc.rtp_receive (an H.264 receiver's per-packet work, from RTP packets to frames);
docs/architecture.md "The packet path's native parts"."""

from setuptools import Extension, setup

FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]

setup(ext_modules=[Extension(f"rtc.{name}", [f"rtc/{name}.c"], extra_compile_args=FLAGS)
                   for name in ("batch_receive", "batch_send", "rtp_receive")])
