from __future__ import annotations

import json

from .conftest import body, server_test


@server_test
async def test_add(jp_fetch, kernel):
    r = await jp_fetch(*kernel.url("actions", "add"), method="POST", body=json.dumps({"a": 1, "b": 5}), headers={"Content-Type": "application/json"})
    assert body(r) == {"value": 6}
    r = await jp_fetch(*kernel.url("actions"))
    print(json.dumps(body(r), indent=1)[:3000])
