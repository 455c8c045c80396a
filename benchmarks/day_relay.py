"""The baseline of ``realistic_day``: the bare relay (``benchmarks/relay.py``) routing both ways.

``/visitor/<key>`` sockets send ``{"type": "message", "conversation_id": <key>, ...}``: stored
as by the relay (one INSERT in its own transaction), acknowledged, and sent to the console
sockets that sent ``{"type": "subscribe", "conversation_id": <key>}`` (answered with
``subscribed``). A console's ``message`` frame is stored, acknowledged and sent to the visitor
socket of its key. The same frames as Confide's, so one load generator drives both; nothing
else (no authentication, policy, sequence per conversation, redaction, encryption or broker).

Run: ``python -m benchmarks.day_relay --port 8100 --database-url sqlite+aiosqlite:///r.db``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from benchmarks.relay import Receive, Relay, Send, _send_json


class DayRelay(Relay):
    def __init__(self, database_url: str) -> None:
        super().__init__(database_url)
        self.visitor_by_key: dict[str, Send] = {}
        self.consoles_by_key: defaultdict[str, set[Send]] = defaultdict(set)

    async def _socket(self, path: str, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        is_console = path.endswith("/console")
        key = "" if is_console else path.rsplit("/", 1)[-1]
        if key:
            self.visitor_by_key[key] = send
        followed: set[str] = set()
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = json.loads(message.get("text") or "{}")
                conversation = str(frame.get("conversation_id", ""))
                if frame.get("type") == "subscribe" and is_console:
                    self.consoles_by_key[conversation].add(send)
                    followed.add(conversation)
                    await _send_json(send, {"type": "subscribed", "conversation_id": conversation})
                    continue
                if frame.get("type") != "message":
                    continue
                client_id, body = str(frame["client_id"]), str(frame["body"])
                seq = await self._store(client_id, body)
                await _send_json(send, {"type": "ack", "client_id": client_id, "seq": seq})
                event = {"type": "message", "client_id": client_id, "seq": seq, "body": body}
                if is_console:
                    visitor = self.visitor_by_key.get(conversation)
                    targets = {visitor} if visitor is not None else set()
                else:
                    targets = set(self.consoles_by_key.get(key, ()))
                payload = json.dumps(event, separators=(",", ":"))
                for target in targets:
                    await target({"type": "websocket.send", "text": payload})
        finally:
            if key:
                self.visitor_by_key.pop(key, None)
            for conversation in followed:
                self.consoles_by_key[conversation].discard(send)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        DayRelay(args.database_url),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
