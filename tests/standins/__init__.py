"""Strict, stateful stand-ins for ``doctl``, ``ssh`` and ``scp``.

Bash scripts under test run the wrappers in ``tests/standins/bin`` (first on PATH).
They talk to a simulated DigitalOcean account kept in the JSON file named by
``DOSIM_STATE``; droplet file systems live under ``DOSIM_ROOT``.  Nothing here opens a
socket.  Stdlib only, so any ``python3`` can run it.
"""
