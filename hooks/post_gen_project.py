"""Finish a fresh bake: create the cluster PKI (never replacing a key) and report."""

import sys
from pathlib import Path

sys.path.insert(0, {{ template_root | tojson }})

from generator.bake import finish_bake  # noqa: E402

if __name__ == "__main__":
    sys.exit(finish_bake(Path.cwd(), {{ cookiecutter | tojson | tojson }}))
