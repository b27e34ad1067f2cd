"""kopf handlers; importing a module registers its handlers. One concern per module."""
