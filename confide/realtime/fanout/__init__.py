"""Fan-out: moving events between the processes of a deployment, below the domain.

- ``broker``: who listens to what (``Broker``, ``MemoryBroker``, ``Subscription``).
- ``redis``: the Redis pub/sub backend, its outage handling and invalidation channels.
- ``limits``: rate limits (memory or Redis, with a fallback mode when Redis is down).
- ``channels``: channel names (conversation, workspace, operator, invalidations).
- ``relay``: the short-lived live relay of chats whose transcripts are not stored.

The socket transport (``confide.realtime.sockets``, ``endpoints``) and the domain both build on
this package; it imports neither.
"""
