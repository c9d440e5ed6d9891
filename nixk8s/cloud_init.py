"""user_data: a node's config file wrapped as a shell script or a ``#cloud-config``.

Both formats write byte-identical JSON to ``/etc/pangea/cluster-config.json``
(mode 0640). Where one template serves many machines the JSON has no
``node_index``: an :class:`~nixk8s.index_probe.IndexProbe` derives it at boot from the
cloud's instance metadata, and the file appears only once it holds the integer
(kindling waits for the file, so it never sees a config without an index).

The shell format's heredoc delimiter is exactly ``PANGEA_CONFIG_EOF`` and its first
heredoc is the config: kindling's EC2 init reads the JSON out of the raw user-data
by that delimiter without running the script.

A k3s node also gets its drop-in (:mod:`nixk8s.k3s_dropin`), written before the
config file appears: kindling waits for that file and then starts k3s, which reads
the drop-in as it starts. In a cloud-config it is the first of ``write_files``; in a
script, a second heredoc after the config's.

Every script runs with the ``PATH`` NixOS gives it: cloud-init's (busybox, iproute2,
util-linux, ... but no curl) or amazon-init's. NixOS's core packages (curl,
coreutils, gawk, gnused, ...) live in ``/run/current-system/sw/bin``, so each script
first puts that directory in front (:data:`NIXOS_PATH`), and uses nothing else.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from nixk8s.index_probe import IndexProbe
from nixk8s.k3s_dropin import DROPIN_DIRECTORY, DROPIN_PATH
from nixk8s.spec import UserDataFormat
from nixk8s.terraform import Template

CONFIG_PATH = "/etc/pangea/cluster-config.json"
STAGING_PATH = "/run/nixk8s/cluster-config.partial.json"
DELIMITER = "PANGEA_CONFIG_EOF"
DROPIN_DELIMITER = "NIXK8S_K3S_CONFIG_EOF"
# the k3s drop-in may hold the etcd snapshot store's secret key: root only
DROPIN_MODE = "0600"
#: NixOS's system profile, where its core packages (curl among them) are
SYSTEM_PROFILE_BIN = "/run/current-system/sw/bin"
#: the first lines of every script: the system profile in front of whatever PATH the runner gave
NIXOS_PATH = f'PATH="{SYSTEM_PROFILE_BIN}${{PATH:+:${{PATH}}}}"\nexport PATH\n'


class BootStep(msgspec.Struct, frozen=True):
    """A step a backend's nodes need before anything else their user_data does (for
    example a default route through the network's gateway, before anything needs the
    internet): POSIX shell using only busybox applets and iproute2, which every boot
    environment has (NixOS's cloud-init PATH too).

    The shell format runs it first, when the script runs; cloud-config runs it as a
    ``bootcmd``, early on every boot. ``purpose`` says why, as a comment in the script.
    """

    purpose: str
    script: str


def _boot_commands(steps: tuple[BootStep, ...]) -> str:
    """The steps as shell, each after its purpose as a comment."""
    return "".join(f"# {step.purpose}\n{step.script.rstrip()}\n" for step in steps)


def _index_commands(probe: IndexProbe) -> str:
    """Shell that sets NODE_INDEX, checks it, and moves the finished file into place."""
    return (
        f"{probe.script.rstrip()}\n"
        'case "${NODE_INDEX:-}" in\n'
        "  ''|*[!0-9]*) echo \"nixk8s: no node index from instance metadata\" >&2; exit 1 ;;\n"
        "esac\n"
        "mkdir -p /etc/pangea\n"
        f"sed \"1s/^{{/{{\\\"node_index\\\":${{NODE_INDEX}},/\" {STAGING_PATH} > {CONFIG_PATH}.tmp\n"
        f"chmod 0640 {CONFIG_PATH}.tmp\n"
        f"mv {CONFIG_PATH}.tmp {CONFIG_PATH}\n"
        f"rm -f {STAGING_PATH}\n"
    )


def _dropin_commands(dropin: Template) -> Template:
    """Shell that writes the k3s drop-in (mode 0600) and moves it into place whole."""
    return Template.of(
        f"mkdir -p {DROPIN_DIRECTORY}\n"
        f"cat > {DROPIN_PATH}.tmp <<'{DROPIN_DELIMITER}'\n",
        dropin,
        f"\n{DROPIN_DELIMITER}\n"
        f"chmod {DROPIN_MODE} {DROPIN_PATH}.tmp\n"
        f"mv {DROPIN_PATH}.tmp {DROPIN_PATH}\n",
    )


def shell_user_data(
    config_json: Template,
    probe: IndexProbe | None = None,
    boot: tuple[BootStep, ...] = (),
    dropin: Template | None = None,
) -> Template:
    """A POSIX shell script that writes the config file (and the k3s drop-in before it),
    after the ``boot`` steps.

    >>> print(shell_user_data(Template.of('{"a":1}')).literal())  # doctest: +ELLIPSIS
    #!/bin/sh
    set -eu
    PATH="/run/current-system/sw/bin${PATH:+:${PATH}}"
    export PATH
    umask 027
    mkdir -p /etc/pangea
    cat > /etc/pangea/cluster-config.json.tmp <<'PANGEA_CONFIG_EOF'
    {"a":1}
    PANGEA_CONFIG_EOF
    ...
    """
    target = f"{CONFIG_PATH}.tmp" if probe is None else STAGING_PATH
    head = (
        "#!/bin/sh\n"
        "set -eu\n"
        f"{NIXOS_PATH}"
        "umask 027\n"
        + _boot_commands(boot)
        + f"mkdir -p {'/etc/pangea' if probe is None else '/etc/pangea /run/nixk8s'}\n"
        f"cat > {target} <<'{DELIMITER}'\n"
    )
    tail = f"chmod 0640 {target}\nmv {target} {CONFIG_PATH}\n" if probe is None else _index_commands(probe)
    # the config's heredoc comes first (kindling's EC2 init reads the first one); the
    # file appears only after the drop-in is in place
    return Template.of(
        head, config_json, f"\n{DELIMITER}\n", *(() if dropin is None else (_dropin_commands(dropin),)), tail
    )


class _Literal(str):
    """A string PyYAML writes as a literal block (``|``), so the JSON line stays verbatim."""


@functools.cache
def _dumper() -> Any:
    """PyYAML's safe dumper, writing :class:`_Literal` strings as literal blocks.

    PyYAML is imported here, the first time a cloud-config is written, so that a
    compile that writes none (shell user_data from a JSON spec) never imports it.
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(
        _Literal, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    )
    return Dumper


def _dump_yaml(document: Any) -> str:
    import yaml

    def literal_content(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: _Literal(v) if k == "content" else literal_content(v) for k, v in node.items()}
        if isinstance(node, list):
            return [literal_content(v) for v in node]
        return node

    body = yaml.dump(
        literal_content(document),
        Dumper=_dumper(),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    if "content: |" not in body:
        # the config JSON is printable ASCII on one line, so PyYAML always can
        raise ValueError("PyYAML did not write the config as a literal block")
    return "#cloud-config\n" + body


@functools.cache
def _cloud_config_frame(
    target: str, probe: IndexProbe | None, boot: tuple[BootStep, ...], dropin: bool
) -> tuple[str, ...]:
    """The cloud-config document around its content lines, written by PyYAML: the
    text before, between and after them (the drop-in's line first, where there is one).

    Every node of a cluster shares this frame; only the lines differ. Each line is
    JSON on one line in printable ASCII (see :func:`nixk8s.node_config.config_json`;
    the drop-in's may also hold characters beyond U+FFFF, printable in YAML), which is
    exactly how PyYAML writes such a string in a literal block, so the frame is dumped
    once and the lines slotted in.
    """
    markers = ("NIXK8SDROPINLINE", "NIXK8SCONFIGLINE") if dropin else ("NIXK8SCONFIGLINE",)
    files = [{"path": target, "owner": "root:root", "permissions": "0640", "content": markers[-1] + "\n"}]
    if dropin:
        # first: cloud-init writes the files in order, and kindling starts k3s once the config appears
        files.insert(0, {"path": DROPIN_PATH, "owner": "root:root", "permissions": DROPIN_MODE, "content": markers[0] + "\n"})
    document: dict[str, Any] = {}
    if boot:
        document["bootcmd"] = [["sh", "-c", "set -eu\n" + NIXOS_PATH + _boot_commands(boot)]]
    document["write_files"] = files
    if probe is not None:
        document["runcmd"] = [["sh", "-c", "set -eu\n" + NIXOS_PATH + "umask 027\n" + _index_commands(probe)]]
    pieces = [_dump_yaml(document)]
    for marker in markers:
        head, found, tail = pieces.pop().partition(marker)
        if not found or marker in tail:
            raise ValueError("the cloud-config frame does not hold each content line exactly once")
        pieces += [head, tail]
    return tuple(pieces)


def cloud_config_user_data(
    config_json: Template,
    probe: IndexProbe | None = None,
    boot: tuple[BootStep, ...] = (),
    dropin: Template | None = None,
) -> Template:
    """A ``#cloud-config`` document, written by PyYAML, that writes the config file
    (and the k3s drop-in, first).

    >>> print(cloud_config_user_data(Template.of('{"a":1}')).literal())
    #cloud-config
    write_files:
    - path: /etc/pangea/cluster-config.json
      owner: root:root
      permissions: '0640'
      content: |
        {"a":1}
    <BLANKLINE>
    """
    frame = _cloud_config_frame(CONFIG_PATH if probe is None else STAGING_PATH, probe, boot, dropin is not None)
    lines = (config_json,) if dropin is None else (dropin, config_json)
    parts: list[str | Template] = []
    for i, text in enumerate(frame):
        parts += [text, *lines[i : i + 1]]
    return Template.of(*parts)


def user_data(
    fmt: UserDataFormat,
    config_json: Template,
    probe: IndexProbe | None = None,
    boot: tuple[BootStep, ...] = (),
    dropin: Template | None = None,
) -> Template:
    """user_data in the chosen format, ``boot`` steps first; ``dropin``: the node's k3s
    drop-in, if it has one."""
    if fmt == "shell":
        return shell_user_data(config_json, probe, boot, dropin)
    return cloud_config_user_data(config_json, probe, boot, dropin)
