"""Who wrote a WedSync event: the ``source`` of writes the sync engine itself makes (not pushed back: that would echo)."""

SYNC_SOURCE = "outlook_sync"
