"""The flight session configuration: how every replica's onnxruntime session is built.

Responsibility: one definition of the settings under which the flight computes, used onboard by
every replica and on the ground for golden vectors, so both sides agree bit for bit.

Why these settings (measured, see docs/DESIGN notes): the graph optimizer is off because it would
build fused copies of the weights that the scrubber cannot see; prepacking is off for the same
reason; one intra-op and one inter-op thread with sequential execution make outputs bit-identical
run after run and across separately built sessions.
"""

from __future__ import annotations

from typing import Any

import onnxruntime as ort

from ..storage._manifest import FLIGHT_SESSION_BLOCK

# The configuration as it is written into every manifest, so a verifier can see what the golden
# vectors were computed under: storage declares it (it checks manifests against it), the engine
# builds its sessions from it below.
FLIGHT_SESSION_CONFIG: dict[str, Any] = FLIGHT_SESSION_BLOCK

PROVIDERS = ["CPUExecutionProvider"]


def flight_session_options() -> ort.SessionOptions:
    """Fresh SessionOptions with the flight settings; the caller adds its live initializers."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.disable_prepacking", "1")
    # Thread spinning burns the other core that the pooled scheduler needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts
