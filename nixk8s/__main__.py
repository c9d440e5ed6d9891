"""``python -m nixk8s``: the same command as ``nixk8s``."""

from nixk8s.cli import run

if __name__ == "__main__":  # imported by doctest collection too
    raise SystemExit(run())
