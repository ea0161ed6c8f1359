"""Where the reference material lies: the project's copy in `reference/` (see its README),
or the folder named by the environment variable MCU_SIM_REFERENCE."""

from __future__ import annotations

import os
from pathlib import Path

REFERENCE_DIR = Path(
    os.environ.get("MCU_SIM_REFERENCE") or Path(__file__).resolve().parents[1] / "reference"
)
REFERENCE_WSDL = REFERENCE_DIR / "esdk_tp_professional.wsdl"
SOAP_EXAMPLES = REFERENCE_DIR / "soap-examples"
LAYOUT_ICONS = REFERENCE_DIR / "cp-layouts"
