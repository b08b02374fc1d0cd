"""Online tests: task modules are imported by name (as Flyte's resolver does in a pod), and the pod
runner of the cluster tests (``cluster_pod``) is reused for the cross-process shared-run tests."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent / "cluster"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
