"""asyncio services the daemon composes (scheduler, scripts, hooks, control socket...), each unaware of it."""
