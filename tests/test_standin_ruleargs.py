"""The one parser of doctl's rule arguments (tests/standins/ruleargs.py) that the firewall and
load-balancer stand-ins share: the same split of rules and pairs, and each command's own split of
a pair and its own words for a malformed one (doctl commands/firewalls.go extractRule,
commands/load_balancers.go fillStructFromStringSliceArgs)."""

from __future__ import annotations

import pytest

from tests.standins.ruleargs import RuleError, droplet_ids, fill_struct, firewall_pairs, rules

FIELDS = {"entry_protocol": str, "entry_port": int, "tls_passthrough": bool}


def test_rules_split_on_single_spaces() -> None:
    assert rules("") == []
    assert rules("a:1 b:2") == ["a:1", "b:2"]
    assert rules("a:1  b:2") == ["a:1", "", "b:2"]  # strings.Split: an empty rule between


def test_a_firewall_pair_splits_at_its_first_colon() -> None:
    assert firewall_pairs("protocol:tcp,address:10.0.0.1:22") == [
        ("protocol", "tcp"), ("address", "10.0.0.1:22")]
    with pytest.raises(RuleError, match=r"^Unexpected input value \[\[address\]\], must be a "
                                        r"key:value pair$"):
        firewall_pairs("protocol:tcp,address")


def test_a_load_balancer_pair_has_exactly_one_colon() -> None:
    assert fill_struct("entry_protocol:tcp,entry_port:80,tls_passthrough:true,x:y", FIELDS) == {
        "entry_protocol": "tcp", "entry_port": 80, "tls_passthrough": True}
    # an int or bool that does not parse is left unset, silently, as reflection leaves it
    assert fill_struct("entry_port:eighty,tls_passthrough:yes", FIELDS) == {}
    with pytest.raises(RuleError, match=r"^Unexpected input value \[entry_port 80 1\]: must be "
                                        r"a key:value pair$"):
        fill_struct("entry_port:80:1", FIELDS)


def test_droplet_ids_go_through_atoi() -> None:
    assert droplet_ids(["7", "+8", "-9"]) == [7, 8, -9]
    for bad in ("7x", "+-7", "", "1.5"):
        with pytest.raises(RuleError) as raised:
            droplet_ids([bad])
        assert str(raised.value) == f'strconv.Atoi: parsing "{bad}": invalid syntax'

