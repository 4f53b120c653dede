"""Root pytest setup, loaded for unit tests and nbmake notebooks alike."""

import os

# Notebooks executed by nbmake inherit this environment: smoke sizes unless a person asks otherwise.
os.environ.setdefault("VIREID_SMOKE", "1")
