"""The aiohttp WebSocket notification server."""
