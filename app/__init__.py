"""The composition root: the `mcu-sim` command and the process it runs.

It wires the domain (mcu/), the gateway's SOAP and signalling doors (gateway/) and the
simulated terminals (terminals/) into one process; none of those packages imports app/.
"""
