"""An API caller holding one workspace's token, in process."""

from typing import Any

import httpx

from app.main import app
from app.tokens import create_token


class ApiClient:
    """Requests to /api/v1 with a workspace's bearer token."""

    def __init__(self, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver/api/v1",
            headers=headers,
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, **kwargs)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(path, json=body)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.http.put(path, json=body)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(path, json=body)


async def client_for(workspace_id: int) -> ApiClient:
    issued = await create_token(workspace_id, "tests")
    return ApiClient(issued.secret)
