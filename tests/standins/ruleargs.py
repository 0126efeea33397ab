"""The rule arguments of doctl's firewall and load-balancer commands, parsed once for both.

doctl's syntax (commands/firewalls.go ``extractInboundRules``/``extractRule``,
commands/load_balancers.go ``extractForwardingRules``/``fillStructFromStringSliceArgs``, at
digitalocean/doctl 168188d): several rules in one flag value are split on single spaces
(``strings.Split(s, " ")``: two spaces make an empty rule), a rule's ``key:value`` pairs on
commas. The two commands split a pair differently, and say so differently:

- firewall rules: ``strings.SplitN(v, ":", 2)`` (``address:10.0.0.1:22`` is the address
  ``10.0.0.1:22``); not a pair: ``Unexpected input value [[address]], must be a key:value pair``
  (its ``[%v]`` around Go's own ``[...]`` of the slice);
- load-balancer rules and ``--health-check``: ``strings.Split(v, ":")`` (a second colon makes
  it no pair); ``Unexpected input value [a b c]: must be a key:value pair``. Known keys fill the
  godo struct's fields by their JSON names; unknown keys are dropped and an int or bool that
  does not parse is left unset (reflection, no error).

``--droplet-ids`` of both is a string slice converted with ``strconv.Atoi``.
"""

from __future__ import annotations

import re
from typing import Any


class RuleError(Exception):
    """doctl's error for a malformed rule argument (its ``checkErr``: exit 1)."""


def go_slice(items: list[str]) -> str:
    """Go's ``%v`` of a []string."""
    return "[" + " ".join(items) + "]"


def rules(text: str) -> list[str]:
    """The rules of one flag value: none for an empty one."""
    return text.split(" ") if text else []


def firewall_pairs(rule: str) -> list[tuple[str, str]]:
    """extractRule's pairs: each split at its first colon."""
    out = []
    for text in rule.split(","):
        pair = text.split(":", 1)
        if len(pair) != 2:
            raise RuleError(f"Unexpected input value [{go_slice(pair)}], must be a key:value pair")
        out.append((pair[0], pair[1]))
    return out


def fill_struct(text: str, fields: dict[str, type], delimiter: str = ",") -> dict[str, Any]:
    """fillStructFromStringSliceArgs: unknown keys dropped, unparsable ints/bools left unset."""
    out: dict[str, Any] = {}
    if not text:
        return out
    pairs = {}
    for kv in text.split(delimiter):
        p = kv.split(":")
        if len(p) != 2:
            raise RuleError(f"Unexpected input value {go_slice(p)}: must be a key:value pair")
        pairs[p[0]] = p[1]
    for key, kind in fields.items():
        if key not in pairs:
            continue
        val = pairs[key]
        if kind is int:
            if atoi(val) is not None:
                out[key] = atoi(val)
        elif kind is bool:
            if val.lower() in ("1", "t", "true"):
                out[key] = True
            elif val.lower() in ("0", "f", "false"):
                out[key] = False
        else:
            out[key] = val
    return out


def atoi(raw: str) -> int | None:
    """strconv.Atoi: None where Go returns an error."""
    return int(raw) if re.fullmatch(r"[+-]?[0-9]+", raw) else None


def droplet_ids(raws: list[str]) -> list[int]:
    """``--droplet-ids`` (both commands): each through strconv.Atoi."""
    out = []
    for raw in raws:
        value = atoi(raw)
        if value is None:
            raise RuleError(f'strconv.Atoi: parsing "{raw}": invalid syntax')
        out.append(value)
    return out
