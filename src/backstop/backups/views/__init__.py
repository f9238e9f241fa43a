"""Customer pages of backup tasks: add (A-TASK), settings (A-SETTINGS), entities (A-ENTITIES),
delete (A-DELTASK). Thin: they look objects up through `restrict` and call `backups.services`."""
