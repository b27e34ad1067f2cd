"""The scrm operator (kopf). Run it with ``kopf run -m scrm_operator`` and ``operator/`` on
``PYTHONPATH``; the package is not called ``operator`` because that is a stdlib module.

Importing the package registers every handler.
"""

from scrm_operator.handlers import children, lifecycle, queues, sender, tenant

__all__ = ["children", "lifecycle", "queues", "sender", "tenant"]
