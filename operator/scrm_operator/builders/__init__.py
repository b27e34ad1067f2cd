"""Pure builders: a :class:`~scrm_operator.spec.TenantSpec` in, Kubernetes manifests out."""
