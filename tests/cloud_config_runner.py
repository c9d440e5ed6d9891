"""Do what cloud-init does with the two modules nixk8s uses: ``write_files``, then ``runcmd``.

Run as ``python cloud_config_runner.py FILE`` inside the test namespace (see
``support.boot_in_namespace``): each file is written with its ``permissions``, then
each ``runcmd`` entry runs (a list is an argv, a string a ``sh -c`` line), stopping at
the first failure as cloud-init's ``scripts-user`` reports it. The document itself is
checked against cloud-init's own schema elsewhere (``support.cloud_init_schema``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import yaml


def main(path: str) -> int:
    with open(path) as handle:
        text = handle.read()
    assert text.startswith("#cloud-config\n"), "not a #cloud-config document"
    document = yaml.safe_load(text)
    for entry in document.get("write_files", []):
        os.makedirs(os.path.dirname(entry["path"]), exist_ok=True)
        with open(entry["path"], "w") as handle:
            handle.write(entry["content"])
        os.chmod(entry["path"], int(entry.get("permissions", "0644"), 8))
    for command in document.get("runcmd", []):
        argv = command if isinstance(command, list) else ["sh", "-c", command]
        result = subprocess.run(argv)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
