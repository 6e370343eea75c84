"""Command-line jobs: the offline plan, the post-deploy checks, the config reference."""
