"""Command-line jobs: the offline plan, the config reference, and (later) the post-deploy checks."""
