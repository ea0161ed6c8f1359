"""The project's one C extension (everything else is in pyproject.toml): rtc.batch_receive,
a UDP socket's datagrams read with one recvmmsg and its SRTP media unprotected
(rtc/batch_receive.c, docs/architecture.md "The packet path's native parts")."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rtc.batch_receive", ["rtc/batch_receive.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"])])
