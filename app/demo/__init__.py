"""`mcu-sim demo`: a scripted consultation driven only through the SOAP API, proved from what
the simulated terminals decoded and heard.

- `soap_client.py`: zeep clients of the reference WSDL and the login protocol;
- `scenario.py`: the consultation's order of steps, `run_demo()`;
- `consultation.py`: the conference booked and connected, a step run and recorded;
- `steps.py`: what a step is (Step, Check, Observation), the options and thresholds;
- `conference_steps.py`, `content_steps.py`, `device_steps.py`, `recording_steps.py`: the
  steps and what each must show;
- `report.py`: what was observed per step and terminal, the expectations, report.json.
"""
