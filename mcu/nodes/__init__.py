"""MCU media nodes coordinated through Redis (issue 18, "Nodes"; docs/deployment.md,
docs/runtime.md "Nodes").

- `node_record.py`: what a node says of itself in the registry (one declared schema);
- `registry.py`: the registry in Redis: a node's record under a key with a TTL that its
  heartbeat renews every second, the live nodes, the conference -> node placements;
- `placement.py`: which live node takes a conference when it starts;
- `node_pool.py`: the live nodes as the platform's MCU pool (queryMCUInfoEx,
  queryConfSiteMCUEx, queryMCUFutureResourceEx);
- `messages.py`, `event_codec.py`: what goes between gateway and nodes (one declared schema
  each way), `transport.py`: how (Redis streams, or queues in one process);
- `conference_router.py`: the gateway's side (placement, the runtime's dialer, the nodes'
  events into the runtime; its parts `router_core.py`, `router_placement.py`,
  `router_calls.py`); `placed_conferences.py` and `held_dialer.py`: the node's
  (its runtime's schedule and dialer; app/node_service.py acts on the commands).
"""
