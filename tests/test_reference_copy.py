"""The project's copy of the reference material (reference/) is the shared one, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.reference import LAYOUT_ICONS, REFERENCE_DIR, REFERENCE_WSDL, SOAP_EXAMPLES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"


def test_the_copy_holds_what_the_product_and_tests_read():
    assert REFERENCE_WSDL.is_file()
    assert len(list(SOAP_EXAMPLES.glob("*.request.xml"))) >= 49
    assert len(list(LAYOUT_ICONS.glob("tp*.png"))) == 49


def test_the_copy_matches_shared_reference():
    if not SHARED.is_dir():
        pytest.skip("no ../shared/reference beside this checkout to compare with")
    copied = [
        path.relative_to(REFERENCE_DIR)
        for path in sorted(REFERENCE_DIR.rglob("*"))
        if path.is_file() and path.name != "README.md"
    ]
    differing = [
        str(relative)
        for relative in copied
        if not (SHARED / relative).is_file()
        or (SHARED / relative).read_bytes() != (REFERENCE_DIR / relative).read_bytes()
    ]
    assert len(copied) > 140
    assert differing == []
