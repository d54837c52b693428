"""The application the browser tests run under uvicorn: the real `create_app`, configured from PLATEAU_*.

Until the CTI work (issue 3) mounts the real `/ws`, a stand-in route serves the same hub protocol
(app/ws_hub.py: snapshot, then deltas) so that the shared client's reconnect and resync behaviour is
tested against a real server. Once `/ws` exists in the app, the stand-in is not added.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, WebSocket

from app.main import create_app
from app.security import SESSION_COOKIE, identify
from app.settings import load_settings
from app.web.render import has_route
from app.ws_hub import Hub, Principal


def build() -> FastAPI:
    app = create_app(load_settings())
    if has_route(app, "/ws", "websocket"):
        return app

    async def snapshot(who: Principal) -> list[dict[str, Any]]:
        return [{"kind": "agent", "id": who.user_id, "state": "logged_out", "version": 1}]

    hub = Hub(snapshot, heartbeat_s=5)
    app.state.test_hub = hub

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        async with app.state.db.session() as s:
            ident = await identify(s, bearer=None, cookie=websocket.cookies.get(SESSION_COOKIE))
        if ident is None:
            await websocket.close(code=4401)
            return
        await websocket.accept()
        u = ident.user
        await hub.serve(websocket, Principal(u.id, u.username, u.role.value, u.team_id, u.sip_endpoint))

    return app
