"""The limit for serving a model over HTTP on this machine: uvicorn (run as the local stack runs
the service) with an ASGI app that reads the body, scores rows prepared beforehand with the
same model and answers their probabilities. No parsing, no checks, no registry, no middleware:
what any HTTP service for this model pays at least. Used by bench/online.py:

    MLSYS_BENCH_FLOOR=/tmp/floor.pkl uvicorn _online_floor:app --app-dir bench ...

``MLSYS_BENCH_FLOOR`` names a pickle the benchmark wrote itself, ``(model, {path: frame})``
(never a user's file: the service loads models only through the verified loader). ``POST
/{path}`` scores ``frame``.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

with open(os.environ["MLSYS_BENCH_FLOOR"], "rb") as fh:
    MODEL, FRAMES = pickle.load(fh)  # the benchmark's own file (see above)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    frame = FRAMES.get(scope["path"])
    if frame is None:
        body, status = b'{"error": "NOT_FOUND"}', 404
    else:
        body, status = (
            json.dumps({"probabilities": MODEL.predict_proba(frame).tolist()}).encode(),
            200,
        )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
