"""Kubernetes components: the cluster provider, namespaces under admission, the admission engines."""
