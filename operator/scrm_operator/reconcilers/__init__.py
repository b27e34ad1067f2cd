"""Reconcilers, one per concern; handlers call them with an injected :class:`Kube`."""
