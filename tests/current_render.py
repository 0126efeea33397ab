"""The current profile's cluster repo as a bake lays it out, without the bake's final audit.

Until the current profile's cloud-configs exist (issue 11, other rows), a `profile=current`
bake fails its audit and leaves nothing; these tests need its other artifacts. So this does
the bake's steps by hand, with the same code: the answers checked by the pre-generation
validation, the template rendered by cookiecutter, the profile kept by `keep_profile`, the CA
and admin certificate made by `ensure_pki`. Only the audit is left out.
"""

from __future__ import annotations

from pathlib import Path

from cookiecutter.main import cookiecutter

from generator import TEMPLATE_ROOT
from generator.answers import validate
from generator.bake import keep_profile
from generator.pki import PkiSettings, ensure_pki
from tests.baking import default_answers


def render_current(output_dir: Path, **overrides: str) -> Path:
    """Render profile=current with overrides (validated like a bake's answers) into output_dir."""
    answers = default_answers(profile="current", **overrides)
    errors = validate(answers)
    assert errors == [], errors
    cluster = Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, accept_hooks=False,
                                extra_context={"profile": "current", **overrides},
                                output_dir=str(output_dir)))
    keep_profile(cluster, "current")
    ensure_pki(cluster / "pki", PkiSettings(
        rsa_bits=int(answers["_rsa_bits"]), ca_days=int(answers["_ca_days"]),
        cert_days=int(answers["_cert_days"]), profile="current"))
    return cluster
