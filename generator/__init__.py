"""Generate and validate the cluster repo that the cookiecutter template scaffolds."""

from pathlib import Path

# The template checkout this package belongs to; hooks find `generator/` through it.
TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
