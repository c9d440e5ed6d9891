"""The node side (DESIGN §8): every boot script runs with exactly the PATH NixOS gives it,
and every k3s node receives its own settings, and only those, in a k3s drop-in.

The boots run for real, as root in a private mount namespace (``support.boot_in_namespace``):
busybox's applets on PATH, curl and the core tools only in /run/current-system/sw/bin.
The expected drop-ins are written out here from the spec, not derived by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from strategies import AZURE_ADMIN_KEY, AZURE_IMAGES
from support import (
    assert_kindling_accepts,
    boot_in_namespace,
    cloud_init_schema,
    compile_raw,
    concrete,
    embedded_config,
    embedded_dropin,
    ipv4_as_index,
    metadata_service,
    problems_of,
    rendered_nodes,
    shellcheck,
)

from nixk8s import k3s_dropin
from nixk8s.backends.registry import BACKENDS
from nixk8s.cli import EXIT_OK, main
from nixk8s.render import WorkerPool
from nixk8s.stamp import StampedPool
from nixk8s.spec import K3sOptions, fields_of

CLOUDS = sorted(BACKENDS)
FORMATS = ["shell", "cloud-config"]
PLACE = {
    "aws": ("eu-central-1", "m6i.large", {"ami_id": "ami-0123456789abcdef0"}),
    "gcp": ("europe-west1", "e2-standard-2", {"project": "my-project", "image": "projects/my-project/global/images/nixos"}),
    "azure": ("westeurope", "Standard_D2s_v5", {"admin_ssh_public_key": AZURE_ADMIN_KEY, "image_id": AZURE_IMAGES[0]}),
    "hcloud": ("nbg1", "cx32", {"image": "nixos-snapshot"}),
}
CLUSTER_LABELS = {"example.com/cluster": "demo"}
POD_CIDR, SERVICE_CIDR = "10.42.0.0/16", "10.43.0.0/16"
DISABLE = ["traefik", "servicelb"]
POOLS: dict[str, dict[str, Any]] = {
    "system": {
        "labels": {"node-role.example.com/control": "yes"},
        "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoExecute"}],
        "max_pods": 60,
    },
    "workers": {"labels": {"tier": "web"}, "taints": [{"key": "dedicated", "value": "web"}], "max_pods": 80},
    "gpu": {"labels": {"gpu": "a100"}, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
}


def settings_spec(backend: str, fmt: str, **overrides: Any) -> dict[str, Any]:
    """One server and two worker pools, each with labels and taints (and max_pods on two),
    the CIDRs and ``disable``. On Hetzner the gpu pool is autoscaled (built from a template).
    An override of None removes the field."""
    region, machine, block = PLACE[backend]
    sizes = {"system": (1, 1), "workers": (2, 4), "gpu": (1, 3)}
    pools = [
        {"name": name, "instance_types": [machine], "min_size": low, "max_size": high, **fields}
        for name, fields in POOLS.items()
        for low, high in [sizes[name]]
    ]
    if backend == "hcloud":
        pools[2] = {**pools[2], "min_size": 0, "autoscale": True}
    raw = {
        "name": "demo",
        "backend": backend,
        "region": region,
        "user_data_format": fmt,
        "node_pools": pools,
        "network": {"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/24", "pod_cidr": POD_CIDR, "service_cidr": SERVICE_CIDR},
        "nixos": {"k3s": {"disable": DISABLE, "node_labels": CLUSTER_LABELS}},
        "bootstrap_secrets": {"k3s_server_token": {"var": "k3s_token"}},
        backend: block,
        **overrides,
    }
    return {k: v for k, v in raw.items() if v is not None}


def expected_dropin(pool: str) -> dict[str, Any]:
    """Exactly what a node of ``pool`` must carry, as k3s spells it."""
    fields = POOLS[pool]
    labels = {**CLUSTER_LABELS, **fields["labels"]}
    taints = [f"{t['key']}={t['value']}" if t.get("value") else t["key"] for t in fields["taints"]]
    effects = [t.get("effect", "NoSchedule") for t in fields["taints"]]
    dropin: dict[str, Any] = {
        "node-label": sorted(f"{k}={v}" for k, v in labels.items()),
        "node-taint": [f"{t}:{e}" for t, e in zip(taints, effects)],
    }
    if "max_pods" in fields:
        dropin["kubelet-arg"] = [f"max-pods={fields['max_pods']}"]
    if pool == "system":
        dropin.update({"cluster-cidr": POD_CIDR, "service-cidr": SERVICE_CIDR, "disable": DISABLE})
    return dropin


def pool_of(node: Any) -> str:
    return "system" if node.role == "server" else node.name.split("_")[1]


def booted_nodes(backend: str, fmt: str) -> list[Any]:
    """Every template a pool's machines share, a static server, and a static worker where
    the cloud makes one machine per node."""
    compiled = compile_raw(settings_spec(backend, fmt))
    server = compiled.built.control_plane[0]
    templates = [pool.nodes[0] for pool in compiled.built.workers if isinstance(pool, WorkerPool)]
    static = [pool.machine_nodes()[0] for pool in compiled.built.workers if isinstance(pool, StampedPool)]
    assert templates, f"{backend} builds no worker pool from a template in this spec"
    return [server, *templates, *static]


# --- booting under NixOS's PATH, in the namespace ---------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("backend", CLOUDS)
def test_every_template_script_and_a_static_nodes_boot_under_nixos_path_and_write_their_drop_in(
    backend: str, fmt: str, tmp_path: Path
) -> None:
    fetch = BACKENDS[backend].worker_index_fetch
    assert fetch is not None
    for i, node in enumerate(booted_nodes(backend, fmt)):
        user_data = concrete(node.user_data)
        template = node.config.node_index is None
        address = f"10.0.1.{20 + i}"
        boot = boot_in_namespace(user_data, metadata_service(fetch, address) if template else [], tmp_path / str(i))
        assert boot.returncode == 0, f"{node.name}: {boot.stderr}"
        assert boot.config is not None and boot.mode == 0o640, node.name
        config = json.loads(boot.config)
        assert isinstance(config["node_index"], int)
        assert config["node_index"] == (ipv4_as_index(address) if template else node.config.node_index)
        assert_kindling_accepts(config)
        assert boot.dropin is not None and boot.dropin_mode == 0o600, node.name
        assert json.loads(boot.dropin) == expected_dropin(pool_of(node)), node.name


def test_without_the_system_profile_in_front_a_template_script_finds_no_curl(tmp_path: Path) -> None:
    # the namespace is what it claims: curl is nowhere but in /run/current-system/sw/bin
    fetch = BACKENDS["aws"].worker_index_fetch
    assert fetch is not None
    template = next(n for n in booted_nodes("aws", "shell") if n.config.node_index is None)
    script = concrete(template.user_data)
    stripped = script.replace('PATH="/run/current-system/sw/bin${PATH:+:${PATH}}"\n', "")
    assert stripped != script
    boot = boot_in_namespace(stripped, metadata_service(fetch, "10.0.1.9"), tmp_path)
    assert boot.returncode == 127 and "curl" in boot.stderr
    assert boot.config is None


@pytest.mark.parametrize("backend", CLOUDS)
def test_every_script_passes_shellcheck_and_every_cloud_config_cloud_inits_schema(backend: str) -> None:
    for fmt, check in (("shell", shellcheck), ("cloud-config", cloud_init_schema)):
        for node in booted_nodes(backend, fmt):
            check(concrete(node.user_data))


# --- what each node's drop-in holds ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("backend", CLOUDS)
def test_each_nodes_drop_in_holds_exactly_its_own_settings(backend: str, fmt: str) -> None:
    compiled = compile_raw(settings_spec(backend, fmt))
    nodes = rendered_nodes(compiled)
    assert {pool_of(n) for n in nodes} == set(POOLS)
    for node in nodes:
        assert embedded_dropin(concrete(node.user_data)) == expected_dropin(pool_of(node)), node.name


@pytest.mark.parametrize("backend", CLOUDS)
def test_the_drop_in_is_written_before_the_config_file_appears(backend: str) -> None:
    # kindling starts k3s once the config file is there; k3s reads the drop-in as it starts
    for fmt in FORMATS:
        for node in booted_nodes(backend, fmt):
            text = concrete(node.user_data)
            if fmt == "shell":
                assert text.index("PANGEA_CONFIG_EOF") < text.index(k3s_dropin.DROPIN_PATH)  # the first heredoc
                assert text.index(f"mv {k3s_dropin.DROPIN_PATH}.tmp") < text.index("mv /etc/pangea/cluster-config.json.tmp")
            else:
                assert text.index(k3s_dropin.DROPIN_PATH) < text.index("/cluster-config")


def test_a_kubeadm_node_gets_no_drop_in() -> None:
    raw = settings_spec("hcloud", "cloud-config", distribution="kubernetes", nixos=None,
                        bootstrap_secrets={"kubeadm_token": {"var": "kubeadm_token"}})  # fmt: skip
    for node in rendered_nodes(compile_raw(raw)):
        assert embedded_dropin(concrete(node.user_data)) is None


def test_a_node_without_settings_gets_no_drop_in() -> None:
    raw = settings_spec("hcloud", "shell", nixos=None, network={"vpc_cidr": "10.0.0.0/16"})
    raw["node_pools"] = [{k: v for k, v in p.items() if k not in ("labels", "taints", "max_pods")} for p in raw["node_pools"]]
    for node in rendered_nodes(compile_raw(raw)):
        assert embedded_dropin(concrete(node.user_data)) is None
        assert k3s_dropin.DROPIN_DIRECTORY not in concrete(node.user_data)


def test_hostile_values_reach_k3s_exactly() -> None:
    disable = ['a"b', "x: y", "#c", "- d", "é\u2028\u0085", "🦀", "${HOME}", "NIXK8S_K3S_CONFIG_EOF"]
    kubelet = {"eviction-hard": "memory.available<5%", "feature-gates": "A=true,B=false", "v": 2}
    raw = settings_spec("hcloud", "shell", nixos={"k3s": {"disable": disable, "extra_kubelet_config": kubelet}})
    server = compile_raw(raw).built.control_plane[0]
    dropin = embedded_dropin(concrete(server.user_data))
    assert dropin is not None
    assert dropin["disable"] == disable
    assert dropin["kubelet-arg"] == ["eviction-hard=memory.available<5%", "feature-gates=A=true,B=false", "max-pods=60", "v=2"]


def test_node_options_reach_agents_and_server_options_only_servers() -> None:
    options = {
        "cluster_dns": "10.43.0.10",
        "node_taints": ["dedicated=infra:NoSchedule"],
        "extra_kube_proxy_config": {"proxy-mode": "ipvs"},
        "data_dir": "/var/lib/k3s",
        "disable_agent": True,
        "extra_flags": ["--flannel-backend=wireguard-native", "--tls-san k8s.example.com", "--debug"],
    }
    compiled = compile_raw(settings_spec("hcloud", "cloud-config", nixos={"k3s": options}))
    server = embedded_dropin(concrete(compiled.built.control_plane[0].user_data))
    assert server is not None
    assert server["cluster-dns"] == "10.43.0.10" and server["disable-agent"] is True
    assert server["flannel-backend"] == "wireguard-native" and server["debug"] is True
    assert server["tls-san+"] == ["k8s.example.com"] and "tls-san" not in server
    assert server["node-taint"] == ["dedicated=infra:NoSchedule", "CriticalAddonsOnly=true:NoExecute"]
    agent = embedded_dropin(concrete(compiled.built.workers[0].machine_nodes()[0].user_data))
    assert agent is not None
    assert agent["kube-proxy-arg"] == ["proxy-mode=ipvs"] and agent["data-dir"] == "/var/lib/k3s"
    assert agent["node-taint"] == ["dedicated=infra:NoSchedule", "dedicated=web:NoSchedule"]
    assert not {"cluster-dns", "disable-agent", "flannel-backend", "debug", "tls-san+", "cluster-cidr", "disable"} & set(agent)


# --- validate: nothing k3s reads from the drop-in is reported as ignored ------------------------


@pytest.mark.parametrize("backend", CLOUDS)
def test_validate_reports_none_of_the_settings_as_ignored(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(settings_spec(backend, "cloud-config")))
    assert main(["validate", str(path)]) == EXIT_OK
    err = capsys.readouterr().err
    assert "[ignored-by-node-agent]" not in err
    assert compile_raw(settings_spec(backend, "cloud-config")).warnings  # validate did print warnings


def test_every_k3s_option_is_read_from_the_drop_in_applied_by_kindling_or_explained() -> None:
    groups = [set(k3s_dropin.FILE_KEYS), set(k3s_dropin.FLAG_FIELDS), set(k3s_dropin.KINDLING_FIELDS), set(k3s_dropin.NOT_IN_FILE)]
    every = {f.encode_name for f in fields_of(K3sOptions)}
    assert set().union(*groups) == every
    assert sum(len(g) for g in groups) == len(every)  # each in one group only


# --- what no drop-in may set ------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, key",
    [("--token=abc", "token"), ("--server https://x:6443", "server"), ("--cluster-init", "cluster-init"),
     ("-t abc", "token"), ("--config=/etc/other.yaml", "config"), ("--node-label=a=b", "node-label"),
     ("--etcd-s3-bucket=b", "etcd-s3-bucket")],
)  # fmt: skip
def test_an_extra_flag_that_sets_what_kindling_or_the_spec_sets_is_refused(flag: str, key: str) -> None:
    raw = settings_spec("hcloud", "shell", nixos={"k3s": {"extra_flags": ["--debug", flag]}})
    (problem,) = problems_of(raw)
    assert problem.path == "nixos.k3s.extra_flags[1]"
    assert problem.message.startswith(f"--{key}: ")


def test_an_extra_flag_that_is_not_a_flag_is_refused() -> None:
    raw = settings_spec("hcloud", "shell", nixos={"k3s": {"extra_flags": ["traefik"]}})
    (problem,) = problems_of(raw)
    assert problem.path == "nixos.k3s.extra_flags[0]" and "not a flag" in problem.message


@pytest.mark.parametrize("field, value", [("node_name", "server-a"), ("node_ip", "10.0.1.5")])
def test_one_node_name_or_address_for_several_servers_is_refused(field: str, value: str) -> None:
    raw = settings_spec("hcloud", "shell", nixos={"k3s": {field: value}})
    assert problems_of(raw) == ()  # one server: it is that server's
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 3, "max_size": 3}
    (problem,) = problems_of(raw)
    assert problem.path == f"nixos.k3s.{field}" and "every one of the 3 servers" in problem.message


def test_the_drop_in_never_holds_kindlings_keys() -> None:
    raw = settings_spec("aws", "shell", nixos={"k3s": {"tls_san": ["k8s.example.com"], "disable": DISABLE}})
    for node in rendered_nodes(compile_raw(raw)):
        dropin = embedded_dropin(concrete(node.user_data)) or {}
        assert not k3s_dropin.KINDLING_OWNED & set(dropin)
        # tls_san still reaches kindling, which writes it
        if node.role == "server":
            assert "k8s.example.com" in embedded_config(concrete(node.user_data))["k3s"]["tls_san"]


@pytest.mark.parametrize(
    "key, allowed",
    [("node-role.kubernetes.io/worker", False), ("kubernetes.io/role", False), ("team.k8s.io/x", False),
     ("node.kubernetes.io/pool", True), ("kubernetes.io/arch", True), ("kubelet.kubernetes.io/x", True),
     ("example.com/tier", True)],
)  # fmt: skip
def test_a_label_kubelet_refuses_to_start_with_is_refused_on_k3s(key: str, allowed: bool) -> None:
    raw = settings_spec("hcloud", "shell")
    raw["node_pools"][1] = {**raw["node_pools"][1], "labels": {key: "true"}}
    assert [p.path for p in problems_of(raw)] == ([] if allowed else [f'node_pools[1].labels["{key}"]'])
    kubeadm = {**raw, "distribution": "kubernetes", "bootstrap_secrets": {"kubeadm_token": {"var": "kubeadm_token"}}}
    del kubeadm["nixos"]
    assert problems_of(kubeadm) == ()  # kindling hands kubeadm no labels: nothing to refuse
