"""`mcu-sim demo`: a scripted consultation driven only through the SOAP API, proved from what
the simulated terminals decoded and heard.

- `soap_client.py`: zeep clients of the reference WSDL and the login protocol;
- `scenario.py`: the consultation's steps and what each must show, `run_demo()`;
- `report.py`: what was observed per step and terminal, the expectations, report.json.
"""
