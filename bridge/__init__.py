"""The edges: foreign protocols in front of the bus.

``bridge.gateway`` is the HTTP gateway for the BalatroMCP mod (and the spec's REST interfaces);
the AgentBridge gRPC shim for Jason joins it here. Edges meet handlers only on subjects: they
import ``subjects``, ``schemas`` and the runtime's client helpers, never a handler.
"""
