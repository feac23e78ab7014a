"""What a household or coordinator process needs at run time and the application does not own: the
run's parameters, its input series (meter data, grid tariffs and limits), ZeroMQ socket limits,
CurveZMQ keys, heartbeat files, bad-frame accounting and leaving with the launcher. It imports
only ``chain`` and ``optimizer``; ``node``, ``coordinator`` and ``ets`` stand on it."""
