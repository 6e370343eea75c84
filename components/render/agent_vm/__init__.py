"""Programs that run on the agent VMs themselves (standard library only); the renderer embeds them."""
