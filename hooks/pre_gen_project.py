"""Reject bad answers before cookiecutter writes any file (it then removes the output dir)."""

import json
import sys

# generator/ is found through the template checkout cookiecutter rendered this hook from
# (absolute, also when cookiecutter cloned the template), never through the cwd.
sys.path.insert(0, {{ template_root | tojson }})

from pathlib import Path  # noqa: E402

from generator.answers import validate  # noqa: E402
from generator.prompts import replay_hint  # noqa: E402

ANSWERS = json.loads({{ cookiecutter | tojson | tojson }})


def main() -> int:
    errors = validate(ANSWERS)
    if not errors:
        return 0
    print(f"ERROR: {len(errors)} answer(s) need fixing; nothing was generated:", file=sys.stderr)
    for error in errors:
        print(f"  - {error}", file=sys.stderr)
    print(replay_hint(ANSWERS, Path({{ template_root | tojson }})), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
