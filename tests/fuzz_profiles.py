"""Hypothesis profiles of the fuzzing suite (tests/test_fuzz_soap.py,
tests/test_fuzz_signalling.py), registered when tests/conftest.py is imported.

- `ci` (the default): 100 examples per test, so both files stay within about 40 s on a
  loaded 2-core machine; `pytest -q` and CI run it.
- `fuzz`: thousands of examples per test (`make fuzz`, HYPOTHESIS_PROFILE=fuzz); minutes.

Both: no per-example deadline (the server shares the machine; a slow example is not a
finding), no example database written into the tree, and the server fixture shared across
examples (a test drives one running server through many requests on purpose). The examples
are drawn at random on every run; a failure prints the seed (`--hypothesis-seed`) and the
shrunk example to reproduce it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILE_VARIABLE = "HYPOTHESIS_PROFILE"

_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    print_blob=True,
)

settings.register_profile(
    "ci", max_examples=100, phases=[Phase.explicit, Phase.generate, Phase.shrink], **_COMMON
)
settings.register_profile("fuzz", max_examples=3000, **_COMMON)


def load_profile() -> str:
    """Select the profile named by HYPOTHESIS_PROFILE (default `ci`); its name."""
    name = os.environ.get(PROFILE_VARIABLE, "ci")
    settings.load_profile(name)
    return name
