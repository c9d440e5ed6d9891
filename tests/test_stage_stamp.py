"""Stage stamp: a pool built machine by machine, rendered once, stamped for each machine.

Slots are found by searching text, so the text must hold them only where nixk8s put
them, after every escaping layer a spec's literal goes through (issue 21, item 7).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nixk8s.node_config import NodeConfig, config_json
from nixk8s.node_index import agent_node_index
from nixk8s.render import MachineText
from nixk8s.stamp import PROBE, StampedPool, built_with_free_slots, fill, slots_absent_from, slots_for, stamper

from strategies import FORGED_SLOT
from support import (
    assert_kindling_accepts,
    compile_raw,
    document_user_data,
    embedded_config,
    minimal_spec,
    reference_json,
)


def forging(template: str, distribution: str = "k3s") -> dict[str, Any]:
    """A Hetzner cluster of one server and a pool of three machines whose nodes all get
    ``template`` as their containerd config template."""
    return minimal_spec(
        distribution=distribution,
        node_pools=[
            {"name": "system", "instance_types": ["cx32"], "min_size": 1, "max_size": 1},
            {"name": "workers", "instance_types": ["cx32"], "min_size": 3, "max_size": 3},
        ],
        network={"vpc_cidr": "10.0.0.0/16"},
        bootstrap_secrets={"k3s_server_token": "a-token"} if distribution == "k3s" else {"kubeadm_token": "abcdef.0123456789abcdef"},
        nixos={distribution: {"containerd_config_template": template}},
    )


def node_configs(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node's config in main.tf.json, decoded as the machine reads it."""
    document = msgspec.json.decode(compile_raw(raw).to_json())
    return [embedded_config(user_data) for user_data in document_user_data(document)]


# --- the reported forgery ----------------------------------------------------------------


def test_a_newline_before_a_slots_letters_reaches_every_machine_as_written() -> None:
    # JSON writes the newline as "\n": the config's text then held "\nixk8sslot0qi", the
    # node index's slot, and each worker got "\705600000" (invalid JSON) instead
    configs = node_configs(forging(FORGED_SLOT))
    assert [c["k3s"]["containerd_config_template"] for c in configs] == [FORGED_SLOT] * 4
    workers = sorted(c["node_index"] for c in configs if c["role"] == "agent")
    assert workers == [agent_node_index("workers", k) for k in range(3)]
    for config in configs:
        assert_kindling_accepts(config)


@pytest.mark.parametrize(
    "template",
    [
        FORGED_SLOT,
        "\nixk8sslot0qo \nixk8sslot0qc \nixk8sslot0qg",  # every slot of the first prefix
        "\nixk8sslot0qi\nixk8sslot1qi\nixk8sslot2qi",  # the first prefixes in turn
        "\nixk8sprobeqi",  # the probe's own
        "\\nixk8sslot0qi",  # a backslash: two in the config, four in the document
    ],
)
def test_text_that_escapes_to_a_slot_compiles_to_the_reference_bytes(template: str) -> None:
    compiled = compile_raw(forging(template, "kubernetes"))
    assert compiled.to_json() == reference_json(compiled.plan.spec)


# --- how slots are chosen ----------------------------------------------------------------


def test_slots_are_chosen_against_the_escaped_text() -> None:
    # the literal holds no "nixk8sslot0q"; its JSON form does
    escaped = msgspec.json.encode(FORGED_SLOT).decode()
    assert slots_absent_from(FORGED_SLOT).node_index == "nixk8sslot0qi"
    assert slots_absent_from(escaped).node_index == "nixk8sslot1qi"


def test_the_slots_a_build_gets_are_absent_from_the_text_its_probe_build_wrote() -> None:
    builds: list[MachineText] = []

    def build(slots: MachineText) -> str:
        builds.append(slots)
        # a layer that writes a newline as "\n" in front of a literal "ixk8sslot0qi"
        return msgspec.json.encode(f"{slots.node_index}:\nixk8sslot0qi").decode()

    slots, text = built_with_free_slots(build, lambda written: written)
    assert builds == [PROBE, slots]
    assert "nixk8sslot0q" in build(PROBE) and slots.node_index == "nixk8sslot1qi"
    assert text.count(slots.node_index) == 1


def test_no_slot_letter_is_the_first_letter_of_a_prefix() -> None:
    # so that a slot found in text cannot begin inside another one or run into it
    for slots in (PROBE, slots_for("nixk8sslot0q")):
        assert all(slot.count("n") == 1 and slot.startswith("n") for slot in slots.values())


def test_a_filled_value_is_never_searched_for_slots() -> None:
    slots = slots_for("nixk8sslot0q")
    values = MachineText("1", "2", "demo-nixk8sslot0qg", "3")
    assert fill(f"{slots.cloud_name}/{slots.spread_group}", slots, values) == "demo-nixk8sslot0qg/3"


def test_a_stamper_fills_every_slot_in_str_and_bytes_alike() -> None:
    slots = slots_for("nixk8sslot0q")
    text = f'{{"name":"{slots.cloud_name}","i":{slots.node_index},"o":"{slots.ordinal}"}}'
    values = ("7", "705600007", "demo-workers-7", "0")
    assert stamper(text, slots)(values) == '{"name":"demo-workers-7","i":705600007,"o":"7"}'
    assert stamper(text.encode(), slots)(tuple(v.encode() for v in values)) == stamper(text, slots)(values).encode()


# --- what each machine receives ----------------------------------------------------------


def test_each_machine_of_a_stamped_pool_is_a_node_with_its_own_integer_values() -> None:
    (pool,) = compile_raw(forging("template")).built.workers
    assert isinstance(pool, StampedPool)
    nodes = pool.machine_nodes()
    assert [(n.name, n.ordinal, n.config.node_index) for n in nodes] == [
        (f"demo_workers_{k}", k, agent_node_index("workers", k)) for k in range(3)
    ]
    assert all(pool.slots.node_index not in part for n in nodes for part in n.json.parts if isinstance(part, str))


def test_servers_keep_an_integer_ordinal() -> None:
    servers = compile_raw(forging("template")).built.control_plane
    assert [(s.ordinal, s.config.node_index) for s in servers] == [(0, 0)]


def test_a_node_index_written_bare_must_be_letters_and_digits() -> None:
    config = NodeConfig("demo", "k3s", "p", "1.34", "agent", False)
    assert '"node_index":705600003}' in config_json(config, index="705600003").literal()
    with pytest.raises(ValueError, match="letters and digits"):
        config_json(config, index='1,"role":"server"')
