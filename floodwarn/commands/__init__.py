"""Sub-commands of the ``floodwarn`` CLI, one module each (discovered by :mod:`floodwarn.cli`)."""
