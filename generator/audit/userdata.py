"""Rule 15: the user data the apply sent (build/user-data/NAME.yaml) is the repo's own
cloud-config for the droplet's role with the profile's placeholders filled in, one value per
placeholder, as scripts/lib/userdata.sh renders it: nothing else was added, dropped or edited.

Its embedded files are then the source's, which embed.copy ties to node/ and manifests/;
every other rule judges the rendered values themselves (addresses, URLs, line lengths).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from generator.audit.cluster import CloudConfig, Cluster
from generator.audit.report import ERROR, Finding


def _pattern(source: str, placeholders: tuple[str, ...]) -> str:
    """A regex matching source with each placeholder replaced by one value, the same at every
    place (a value without a line break, as sed's replacement is)."""
    if not placeholders:
        return re.escape(source)
    parts = re.split(f"({'|'.join(map(re.escape, placeholders))})", source)
    seen: set[str] = set()
    out = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            out.append(re.escape(part))
        elif part in seen:
            out.append(f"(?P={part})")
        else:
            out.append(f"(?P<{part}>[^\n]*?)")
            seen.add(part)
    return "".join(out)


def _first_difference(source: str, rendered: str, placeholders: tuple[str, ...]) -> int:
    """The first line of the rendered file that its source line does not render to, or that
    gives a placeholder another value than an earlier line did."""
    values: dict[str, str] = {}
    theirs, ours = source.split("\n"), rendered.split("\n")
    for k, (want, got) in enumerate(zip(theirs, ours, strict=False)):
        match = re.fullmatch(_pattern(want, placeholders), got)
        if not match or any(values.setdefault(name, value) != value
                            for name, value in match.groupdict().items()):
            return k + 1
    return min(len(theirs), len(ours)) + 1


def _check(config: CloudConfig, source: CloudConfig | None, cluster: Cluster) -> Iterator[Finding]:
    if source is None:
        yield Finding(config.rel, 1, ERROR, "userdata.source",
                      f"no cloud-config/ROLE.yaml renders this file: user data is named "
                      f"{cluster.setting('CLUSTER_NAME')}-ROLE-NN.yaml after its droplet")
        return
    placeholders = cluster.profile.user_data_placeholders
    # userdata.sh writes the rendering with printf '%s\n' of sed's output
    rendered = config.text.removesuffix("\n")
    if re.fullmatch(_pattern(source.text.removesuffix("\n"), placeholders), rendered):
        return
    line_no = _first_difference(source.text, config.text, placeholders)
    yield Finding(config.rel, line_no, ERROR, "userdata.source",
                  f"is not {source.rel} with {', '.join(placeholders)} filled in, one value "
                  f"each (line {line_no} differs): the droplet got other user data than the "
                  "repo holds; after a re-bake that changed it, the droplet keeps the old one "
                  "until it is re-created")


def check(cluster: Cluster) -> Iterator[Finding]:
    sources = {c.role: c for c in cluster.cloud_configs if not c.rendered}
    for config in cluster.cloud_configs:
        if config.rendered:
            yield from _check(config, sources.get(config.role), cluster)
