#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the protocol's examples.

Every JSON example in docs/protocol.md seeds the frame decoders; binary frames,
stored records and pub/sub payloads are the same examples encoded with protoc;
tokens are signed here with the token fuzzer's key. Files are named by the
SHA-1 of their bytes, as libFuzzer names what it finds, so a rerun only adds.

  python3 fuzz/seeds.py   # from the repository root; commit what it adds
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = b"fuzz-current-secret-0123456789"  # As in fuzz/token_fuzzer.cc.


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(ROOT, "fuzz", "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def protocol_examples():
    text = open(os.path.join(ROOT, "docs", "protocol.md")).read()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        for line in block.strip().splitlines():
            if line.startswith("{"):
                yield line


def encode(message, text_format):
    """The binary encoding of a message given in protobuf text format."""
    return subprocess.run(
        ["protoc", "-I", ROOT, "--encode=chat." + message, "proto/client.proto", "proto/events.proto"],
        input=text_format.encode(), capture_output=True, check=True, cwd=ROOT).stdout


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims, alg="HS256", key=SECRET):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def resp(value):
    """value in RESP2: int, bytes/str (bulk), None (nil) or list (array)."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    return b"*%d\r\n" % len(value) + b"".join(resp(v) for v in value)


def main():
    examples = list(protocol_examples())
    binary_frames = [
        'chat_message { type: "chat_message" server: "demo" channel: "general" message: "hi" id: "n1" }',
        'history { server: "demo" channel: "general" after: 0 limit: 50 id: "h1" }',
        'identify { token: "x.y.z" status: "idle" resume { session_id: "s" user_seq: 7 } }',
        'invitation { invited: "bob" id: "i1" }',
        'read { server: "demo" channel: "general" seq: 12 }',
    ]
    for line in examples:
        write("client_frame_fuzzer", line)
    for frame in binary_frames:
        write("client_frame_fuzzer", encode("ClientFrame", frame))

    for line in examples:
        kind = json.loads(line).get("type")
        if kind == "chat_message":
            write("seed_frame_fuzzer", b"\x00" + line.encode())
        if kind in ("invitation", "cancel_invitation", "accept_invitation"):
            write("seed_frame_fuzzer", b"\x01" + line.encode())
    write("seed_frame_fuzzer", b'\x01{"type":"accept_invitation","inviting":7,"invited":"bob"}')

    later, earlier = 1800000000 + 3600, 1800000000 - 3600
    claims = [
        {"sub": "alice", "name": "Alice", "img": "https://img/alice.png", "exp": later},
        {"sub": "alice", "exp": later, "nbf": later},
        {"sub": "alice", "exp": earlier},
        {"sub": "{u:bob}", "exp": later},
        {"sub": "bob", "exp": "tomorrow"},
        {"sub": 7, "exp": later, "name": "x" * 101},
    ]
    for c in claims:
        write("token_fuzzer", b"\x00" + token(c).encode())
        write("token_fuzzer", b"\x01" + json.dumps(c).encode())
    write("token_fuzzer", b"\x00" + token(claims[0], alg="none").encode())
    write("token_fuzzer", b"\x00" + token(claims[0], key=b"wrong").encode())
    write("token_fuzzer", b"\x00" + token(claims[0], alg="HS512").encode())

    upgrade = ("GET {} HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Origin: http://localhost:8080\r\n\r\n")
    tok = token(claims[0])
    for target in ["/ws", "/ws/chat/demo/general/?token=" + tok, "/ws/personal/bob/?token=" + tok,
                   "/ws/chat/%7Bu:bob%7D/general/", "/ws/personal/../x/?token=%41"]:
        write("http_upgrade_fuzzer", b"\x07" + upgrade.format(target).encode())
    body = '{"name":"Alice Example"}'
    write("http_upgrade_fuzzer", b"\x20" + (
        "POST /api/dev/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
    write("http_upgrade_fuzzer", b"\x03GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"5\r\nhello\r\n0\r\n\r\n")

    message = encode("ChatMessage", 'server: "demo" channel: "general" message: "hello" author: "Alice" '
                     'id: "n1" sent_at: 1732700000456 author_id: "alice"')
    event = encode("Event", 'invitation { id: "inv_1" inviting: "alice" invited: "bob" state: "pending" }')
    update = encode("Event", 'message_update { server: "demo" channel: "general" message_seq: 2 '
                    'message: "hello!" edited_at: 1732700000999 author_id: "alice" }')
    # The history script's reply: head, oldest, items {seq, kind, bytes}, rollback, next.
    history = [5, 1, [[2, "m", message], [3, "e", update], [4, "m", b"\xff"]], "4:4", 2]
    write("redis_record_fuzzer", b"\x00" + resp(history))
    write("redis_record_fuzzer", b"\x04" + resp(history))
    write("redis_record_fuzzer", b"\x01" + resp([7, "1-0", [["7-0", ["e", event]]], ""]))
    write("redis_record_fuzzer", b"\x02" + resp(["id", "inv_1", "inviting", "alice", "invited", "bob",
                                                 "state", "pending", "created_at", "1732700000000"]))
    chat_event = encode("Event", 'chat_message { server: "demo" channel: "general" message: "hi" '
                        'author: "Alice" id: "n1" author_id: "alice" }')
    write("redis_record_fuzzer", b"\x03" + b"13 " + chat_event)
    write("redis_record_fuzzer", b"\x03" + b"0 " + encode(
        "Event", 'log_rollback { server: "demo" channel: "general" from_seq: 3 to_seq: 5 }'))
    write("redis_record_fuzzer", b"\x03" + b"4 " + event)


if __name__ == "__main__":
    main()
