"""The clouds: one package each (``hcloud``, ``aws``, ``gcp``, ``azure``), the shared
pipeline every Backend record (:mod:`nixk8s.backends.base`) plugs into
(:mod:`nixk8s.backends.pipeline`), and the
catalog the cloud-neutral core reads them through (:mod:`nixk8s.backends.catalog`).

Nothing is imported here: the catalog must stay cheap to import (the spec reads it),
and a cloud's modules are imported only when a spec for it is compiled.
"""
