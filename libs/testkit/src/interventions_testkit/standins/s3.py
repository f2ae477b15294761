"""An S3 stand-in for the broker's storage: the subset of the S3 REST API the Tansu broker's
object store uses (path-style PUT/GET/HEAD/DELETE of objects with ETags, conditional puts by
`If-None-Match: *` and `If-Match`, ranged GETs, ListObjectsV2, copy and bulk delete), objects
held in this process. Run as its own process (`python -m interventions_testkit.standins.s3
PORT`) it outlives the broker, so a broker restarted on it keeps every record it acknowledged:
the chaos suite's durable broker (docs/RELIABILITY.md). Signatures are not checked."""

from __future__ import annotations

import hashlib
import html
import re
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Store:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str, float]] = {}
        self.lock = threading.Lock()


STORE = Store()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _split(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0])
        key = unquote(parts[1]) if len(parts) > 1 else ""
        return bucket, key, parse_qs(url.query, keep_blank_values=True)

    def _body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f'<?xml version="1.0"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
        self._send(status, body.encode(), {"content-type": "application/xml"})

    def _meta(self, data: bytes, etag: str, at: float) -> dict[str, str]:
        return {
            "etag": etag,
            "last-modified": formatdate(at, usegmt=True),
            "accept-ranges": "bytes",
            "content-type": "application/octet-stream",
        }

    # -- verbs ------------------------------------------------------------------------------
    def do_PUT(self) -> None:
        bucket, key, query = self._split()
        data = self._body()
        if not key:  # CreateBucket
            self._send(200)
            return
        if "partNumber" in query or "uploadId" in query:
            self._error(501, "NotImplemented")
            return
        source = self.headers.get("x-amz-copy-source")
        with STORE.lock:
            current = STORE.objects.get((bucket, key))
            if self.headers.get("if-none-match") == "*" and current is not None:
                self._error(412, "PreconditionFailed")
                return
            match = self.headers.get("if-match")
            if match is not None and (current is None or current[1] != match):
                self._error(412 if current is not None else 404, "PreconditionFailed")
                return
            if source is not None:
                src_bucket, _, src_key = unquote(source).lstrip("/").partition("/")
                found = STORE.objects.get((src_bucket, src_key))
                if found is None:
                    self._error(404, "NoSuchKey")
                    return
                data = found[0]
            etag = f'"{hashlib.md5(data + str(time.time_ns()).encode()).hexdigest()}"'
            at = time.time()
            STORE.objects[(bucket, key)] = (data, etag, at)
        if source is not None:
            xml = (
                f'<?xml version="1.0"?><CopyObjectResult xmlns="{NS}">'
                f"<LastModified>{_iso(at)}</LastModified><ETag>{escape(etag)}</ETag>"
                "</CopyObjectResult>"
            )
            self._send(200, xml.encode(), {"etag": etag, "content-type": "application/xml"})
            return
        self._send(200, b"", {"etag": etag})

    def do_GET(self) -> None:
        bucket, key, query = self._split()
        if not key:
            self._list(bucket, query)
            return
        with STORE.lock:
            found = STORE.objects.get((bucket, key))
        if found is None:
            self._error(404, "NoSuchKey")
            return
        data, etag, at = found
        match = self.headers.get("if-match")
        if match is not None and match != etag:
            self._error(412, "PreconditionFailed")
            return
        none = self.headers.get("if-none-match")
        if none is not None and none == etag:
            self._send(304, b"", {"etag": etag})
            return
        headers = self._meta(data, etag, at)
        rng = self.headers.get("range")
        if rng and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m is None:
                self._error(416, "InvalidRange")
                return
            size = len(data)
            if m.group(1) == "":
                start, end = max(0, size - int(m.group(2))), size - 1
            else:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size:
                self._error(416, "InvalidRange")
                return
            headers["content-range"] = f"bytes {start}-{end}/{size}"
            self._send(206, data[start : end + 1], headers)
            return
        if self.command == "HEAD":
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            return
        self._send(200, data, headers)

    do_HEAD = do_GET

    def do_DELETE(self) -> None:
        bucket, key, _ = self._split()
        with STORE.lock:
            STORE.objects.pop((bucket, key), None)
        self._send(204)

    def do_POST(self) -> None:
        bucket, _, query = self._split()
        body = self._body()
        if "delete" not in query:
            self._error(501, "NotImplemented")
            return
        keys = [html.unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", body.decode())]
        deleted = []
        with STORE.lock:
            for k in keys:
                STORE.objects.pop((bucket, k), None)
                deleted.append(f"<Deleted><Key>{escape(k)}</Key></Deleted>")
        xml = f'<?xml version="1.0"?><DeleteResult xmlns="{NS}">{"".join(deleted)}</DeleteResult>'
        self._send(200, xml.encode(), {"content-type": "application/xml"})

    def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        after = query.get("continuation-token", query.get("start-after", [""]))[0]
        limit = int(query.get("max-keys", ["1000"])[0])
        with STORE.lock:
            names = sorted(
                (k, v)
                for (b, k), v in STORE.objects.items()
                if b == bucket and k.startswith(prefix)
            )
        contents: list[str] = []
        prefixes: list[str] = []
        last = ""
        truncated = False
        for k, (data, etag, at) in names:
            if after and k <= after:
                continue
            if delimiter:
                rest = k[len(prefix) :]
                if delimiter in rest:
                    common = prefix + rest.split(delimiter, 1)[0] + delimiter
                    if common not in prefixes:
                        if len(contents) + len(prefixes) >= limit:
                            truncated = True
                            break
                        prefixes.append(common)
                    last = k
                    continue
            if len(contents) + len(prefixes) >= limit:
                truncated = True
                break
            contents.append(
                f"<Contents><Key>{escape(k)}</Key><LastModified>{_iso(at)}</LastModified>"
                f"<ETag>{escape(etag)}</ETag><Size>{len(data)}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
            last = k
        more = f"<NextContinuationToken>{escape(last)}</NextContinuationToken>" if truncated else ""
        xml = (
            f'<?xml version="1.0"?><ListBucketResult xmlns="{NS}"><Name>{escape(bucket)}</Name>'
            f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(contents) + len(prefixes)}</KeyCount>"
            f"<MaxKeys>{limit}</MaxKeys><IsTruncated>{str(truncated).lower()}</IsTruncated>{more}"
            + "".join(contents)
            + "".join(
                f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes
            )
            + "</ListBucketResult>"
        )
        self._send(200, xml.encode(), {"content-type": "application/xml"})


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
