"""user_data: a node's config file wrapped as a shell script or a ``#cloud-config``.

Both formats write byte-identical JSON to ``/etc/pangea/cluster-config.json``
(mode 0640). Where one template serves many machines the JSON has no
``node_index``: an :class:`~nixk8s.index_probe.IndexProbe` derives it at boot from the
cloud's instance metadata, and the file appears only once it holds the integer
(kindling waits for the file, so it never sees a config without an index).

The shell format's heredoc delimiter is exactly ``PANGEA_CONFIG_EOF`` and its first
heredoc is the config: kindling's EC2 init reads the JSON out of the raw user-data
by that delimiter without running the script.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from nixk8s.index_probe import IndexProbe
from nixk8s.spec import UserDataFormat
from nixk8s.terraform import Template

CONFIG_PATH = "/etc/pangea/cluster-config.json"
STAGING_PATH = "/run/nixk8s/cluster-config.partial.json"
DELIMITER = "PANGEA_CONFIG_EOF"


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


def shell_user_data(
    config_json: Template, probe: IndexProbe | None = None, boot: tuple[BootStep, ...] = ()
) -> Template:
    """A POSIX shell script that writes the config file.

    >>> print(shell_user_data(Template.of('{"a":1}')).literal())  # doctest: +ELLIPSIS
    #!/bin/sh
    set -eu
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
        "umask 027\n"
        + _boot_commands(boot)
        + f"mkdir -p {'/etc/pangea' if probe is None else '/etc/pangea /run/nixk8s'}\n"
        f"cat > {target} <<'{DELIMITER}'\n"
    )
    tail = (
        f"\n{DELIMITER}\n"
        + (f"chmod 0640 {target}\nmv {target} {CONFIG_PATH}\n" if probe is None else _index_commands(probe))
    )
    return Template.of(head, config_json, tail)


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
def _cloud_config_frame(target: str, probe: IndexProbe | None, boot: tuple[BootStep, ...]) -> tuple[str, str]:
    """The cloud-config document around its one content line, written by PyYAML.

    Every node of a cluster shares this frame; only the config line differs. The line
    is printable ASCII JSON on one line (see :func:`nixk8s.node_config.config_json`),
    which is exactly how PyYAML writes such a string in a literal block, so the frame
    is dumped once and the line slotted in.
    """
    marker = "NIXK8SCONFIGLINE"
    document: dict[str, Any] = {}
    if boot:
        document["bootcmd"] = [["sh", "-c", "set -eu\n" + _boot_commands(boot)]]
    document |= {
        "write_files": [
            {"path": target, "owner": "root:root", "permissions": "0640", "content": marker + "\n"}
        ]
    }
    if probe is not None:
        document["runcmd"] = [["sh", "-c", "set -eu\numask 027\n" + _index_commands(probe)]]
    text = _dump_yaml(document)
    head, found, tail = text.partition(marker)
    if not found or marker in tail:
        raise ValueError("the cloud-config frame does not hold its content line exactly once")
    return head, tail


def cloud_config_user_data(
    config_json: Template, probe: IndexProbe | None = None, boot: tuple[BootStep, ...] = ()
) -> Template:
    """A ``#cloud-config`` document, written by PyYAML, that writes the config file.

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
    head, tail = _cloud_config_frame(CONFIG_PATH if probe is None else STAGING_PATH, probe, boot)
    return Template.of(head, config_json, tail)


def user_data(
    fmt: UserDataFormat, config_json: Template, probe: IndexProbe | None = None, boot: tuple[BootStep, ...] = ()
) -> Template:
    """user_data in the chosen format, ``boot`` steps first."""
    if fmt == "shell":
        return shell_user_data(config_json, probe, boot)
    return cloud_config_user_data(config_json, probe, boot)
