"""Suite-wide settings.

Property tests (hypothesis) run derandomized by default, so a CI run is repeatable and a landing never depends
on luck; set HYPOTHESIS_PROFILE=explore to draw fresh examples (and raise max_examples in the test) when
hunting for new failures, as was done while building the engine and the SCIM webhook.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
