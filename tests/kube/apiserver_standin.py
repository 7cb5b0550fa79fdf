#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for kube-apiserver's list/watch protocol, for testing Myelin's
Kubernetes client where a real API server cannot be installed.

It serves what a reflector uses, the way the real server does:
  * HTTPS with a bearer token (401 Status otherwise);
  * GET /api/v1/<resource>, /api/v1/namespaces/<ns>/<resource>,
    /apis/<group>/<version>/[namespaces/<ns>/]<resource>: a <Kind>List whose
    items carry no kind/apiVersion, metadata.resourceVersion of the list,
    paging with limit/continue (an expired continue token is 410 Expired);
  * ?watch=true&resourceVersion=RV: a chunked stream of one JSON event per
    line (ADDED, MODIFIED, DELETED, BOOKMARK with allowWatchBookmarks, and
    ERROR with a 410 Status when RV was compacted), ending after timeoutSeconds;
    resourceVersion "" or "0" starts with ADDED for every current object;
  * one global, increasing resourceVersion, as etcd's revision.
  * GET of one object: .../<resource>/<name>, 404 NotFound Status if absent;
  * writes as a client makes them: POST to a collection creates (201; 409
    AlreadyExists when the name is taken); PATCH with
    application/merge-patch+json (RFC 7386; metadata.resourceVersion in the
    patch makes it conditional: 409 Conflict if it changed); DELETE with
    DeleteOptions preconditions (uid, resourceVersion: 409 Conflict). Each
    is an ADDED / MODIFIED / DELETED watch event, as /_standin/apply is.
Objects come from real object JSON (files of objects or of Lists).

Test controls (same server, same token), not part of the Kubernetes API:
  POST /_standin/apply   body: an object (created or replaced)
  POST /_standin/delete  body: {"kind", "namespace", "name"}
  POST /_standin/compact drop the event history: older versions get 410
  POST /_standin/drop    cut every open watch connection without a goodbye;
                         with ?hold=1 new watches then wait for /_standin/release
  POST /_standin/hold-lists  lists wait for /_standin/release (an API server
                         too slow to answer: a client that has not listed)
  GET  /_standin/stats   requests served, per resource
"""
import argparse
import base64
import copy
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# kind -> (group/version path prefix, resource, namespaced)
KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "Node": ("/api/v1", "nodes", False),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "CiliumNetworkPolicy": ("/apis/cilium.io/v2", "ciliumnetworkpolicies", True),
    "CiliumClusterwideNetworkPolicy": ("/apis/cilium.io/v2", "ciliumclusterwidenetworkpolicies", False),
    "TracingPolicy": ("/apis/cilium.io/v1alpha1", "tracingpolicies", False),
    "TracingPolicyNamespaced": ("/apis/cilium.io/v1alpha1", "tracingpoliciesnamespaced", True),
    "MyelinIdentity": ("/apis/myelin.io/v1alpha1", "myelinidentities", False),
}
BY_RESOURCE = {(v[0], v[1]): k for k, v in KINDS.items()}


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.status = status(code, reason, message, details)


def merge_patch(target, patch):
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class Store:
    def __init__(self, history_limit):
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {}        # (kind, ns, name) -> object
        self.history = []        # (rv, kind, type, object), oldest first
        self.compacted = self.rv  # versions at or below this have no history
        self.history_limit = history_limit
        self.generation = 0      # bumped by /drop: open watches end abruptly
        self.hold = False        # new watches wait while set
        self.hold_lists = False  # lists wait while set
        self.stats = {}

    def count(self, what):
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + 1

    def _record(self, kind, etype, obj):
        self.history.append((self.rv, kind, etype, copy.deepcopy(obj)))
        while len(self.history) > self.history_limit:
            old = self.history.pop(0)
            self.compacted = old[0]
        self.lock.notify_all()

    def apply(self, obj):
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError("unknown kind %r" % kind)
        meta = obj.setdefault("metadata", {})
        if not KINDS[kind][2]:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            meta["namespace"] = "default"
        key = (kind, meta.get("namespace", ""), meta["name"])
        with self.lock:
            self.rv += 1
            old = self.objects.get(key)
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            if kind != "Pod" and kind != "Namespace":
                meta["generation"] = (old["metadata"].get("generation", 0) + 1) if old else 1
            self.objects[key] = obj
            self._record(kind, "MODIFIED" if old else "ADDED", obj)
        return obj

    def key(self, kind, ns, name):
        return (kind, ns if KINDS[kind][2] else "", name)

    def get(self, kind, ns, name):
        with self.lock:
            obj = self.objects.get(self.key(kind, ns, name))
            if obj is None:
                raise ApiError(404, "NotFound", '%s "%s" not found' % (KINDS[kind][1], name),
                               {"name": name, "kind": KINDS[kind][1]})
            return copy.deepcopy(obj)

    def create(self, kind, ns, obj):
        meta = obj.get("metadata") or {}
        if obj.get("kind", kind) != kind or not meta.get("name"):
            raise ApiError(400, "BadRequest", "the object must be a %s with metadata.name" % kind)
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        obj = copy.deepcopy(obj)
        obj["kind"] = kind
        obj["apiVersion"] = KINDS[kind][0].replace("/apis/", "").replace("/api/", "")
        for server_set in ("uid", "creationTimestamp", "generation"):
            obj["metadata"].pop(server_set, None)
        if KINDS[kind][2]:
            obj["metadata"]["namespace"] = ns or obj["metadata"].get("namespace") or "default"
        with self.lock:  # the check and the write at once: two creates of one name, one wins
            if self.key(kind, obj["metadata"].get("namespace", ""), meta["name"]) in self.objects:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (KINDS[kind][1], meta["name"]),
                               {"name": meta["name"], "kind": KINDS[kind][1]})
            return copy.deepcopy(self.apply(obj))

    def patch(self, kind, ns, name, patch):
        with self.lock:
            old = self.get(kind, ns, name)
            want = (patch.get("metadata") or {}).get("resourceVersion")
            if want is not None and want != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                               "please apply your changes to the latest version and try again" % (KINDS[kind][1], name))
            new = merge_patch(old, patch)
            for fixed in ("name", "namespace", "uid", "creationTimestamp"):  # immutable, as the real server keeps them
                if fixed in old["metadata"]:
                    new.setdefault("metadata", {})[fixed] = old["metadata"][fixed]
            new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
            if new == old:  # a patch that changes nothing writes nothing (no new version, no event)
                return old
            new["metadata"].pop("resourceVersion", None)
            return copy.deepcopy(self.apply(new))

    def delete_checked(self, kind, ns, name, pre):
        with self.lock:
            old = self.get(kind, ns, name)
            for field in ("uid", "resourceVersion"):
                if pre.get(field) and pre[field] != old["metadata"].get(field):
                    raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                                   "%s: %s, %s: %s" % (KINDS[kind][1], name, field, pre[field], field, old["metadata"].get(field)))
            self.delete(kind, ns, name)
            return old

    def delete(self, kind, ns, name):
        with self.lock:
            key = (kind, ns if KINDS[kind][2] else "", name)
            obj = self.objects.pop(key, None)
            if obj is None:
                return False
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record(kind, "DELETED", obj)
            return True

    def compact(self):
        with self.lock:
            self.history.clear()
            self.compacted = self.rv


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standin: " + fmt % args + "\n")

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + self.server.token:
            return True
        self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n) or b"{}")

    def route(self, path):
        """(kind, namespace, name) of /api/v1/[namespaces/NS/]R[/NAME] or
        /apis/G/V/[namespaces/NS/]R[/NAME]; a 404 sent (kind None) when not served."""
        parts = path.strip("/").split("/")
        ns = name = None
        base_len = 2 if parts[0] == "api" else 3
        prefix = "/" + "/".join(parts[:base_len])
        rest = parts[base_len:]
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if len(rest) == 2:
            rest, name = rest[:1], rest[1]
        kind = BY_RESOURCE.get((prefix, rest[0] if len(rest) == 1 else None))
        if kind is None or (kind in self.server.missing) or (ns is not None and not KINDS[kind][2]):
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return None, None, None
        return kind, ns, name

    def answer(self, fn):
        try:
            code, obj = fn()
            self.send_json(code, obj)
        except ApiError as e:
            self.send_json(e.status["code"], e.status)
        except (ValueError, KeyError, TypeError) as e:
            self.send_json(400, status(400, "BadRequest", str(e)))

    def named_object(self, verb, on_collection):
        """The object a PATCH or DELETE names, as (store, kind, ns, name), the
        request counted; None when it was answered already (unauthorized, an
        unknown path, or a collection: 405 with on_collection)."""
        if not self.authorized():
            return None
        kind, ns, name = self.route(urlparse(self.path).path)
        if kind is None:
            return None
        store = self.server.store
        store.count(verb + " " + KINDS[kind][1])
        if name is None:
            self.send_json(405, status(405, "MethodNotAllowed", on_collection))
            return None
        return store, kind, ns or "", name

    def do_PATCH(self):
        target = self.named_object("patch", "the server does not allow this method on the requested resource")
        if target is None:
            return
        store, kind, ns, name = target
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/merge-patch+json":
            self.read_body()
            self.send_json(415, status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                       "accepted media types include: application/merge-patch+json"))
            return
        self.answer(lambda: (200, store.patch(kind, ns, name, self.read_body())))

    def do_DELETE(self):
        target = self.named_object("delete", "deleting a collection is not served by the stand-in")
        if target is None:
            return
        store, kind, ns, name = target
        self.answer(lambda: (200, store.delete_checked(kind, ns, name, self.read_body().get("preconditions") or {})))

    def do_POST(self):
        if not self.authorized():
            return
        store = self.server.store
        path = urlparse(self.path).path
        if not path.startswith("/_standin/"):
            kind, ns, name = self.route(path)
            if kind is None:
                return
            store.count("create " + KINDS[kind][1])
            if name is not None:
                self.send_json(405, status(405, "MethodNotAllowed", "POST goes to the collection"))
                return
            self.answer(lambda: (201, store.create(kind, ns or "", self.read_body())))
            return
        try:
            if path == "/_standin/apply":
                body = self.read_body()
                items = body.get("items", [body]) if body.get("kind", "").endswith("List") else [body]
                self.send_json(200, {"applied": [store.apply(o)["metadata"]["resourceVersion"] for o in items]})
            elif path == "/_standin/delete":
                b = self.read_body()
                ok = store.delete(b["kind"], b.get("namespace", ""), b["name"])
                self.send_json(200 if ok else 404, {"deleted": ok})
            elif path == "/_standin/compact":
                store.compact()
                self.send_json(200, {"compacted": store.compacted})
            elif path == "/_standin/drop":
                with store.lock:
                    store.generation += 1
                    store.hold = parse_qs(urlparse(self.path).query).get("hold") == ["1"]
                    store.lock.notify_all()
                self.send_json(200, {"dropped": True})
            elif path == "/_standin/hold-lists":
                with store.lock:
                    store.hold_lists = True
                self.send_json(200, {"holding": "lists"})
            elif path == "/_standin/release":
                with store.lock:
                    store.hold = False
                    store.hold_lists = False
                    store.lock.notify_all()
                self.send_json(200, {"released": True})
            else:
                self.send_json(404, status(404, "NotFound", "no such control"))
        except (ValueError, KeyError) as e:
            self.send_json(400, status(400, "BadRequest", str(e)))

    def do_GET(self):
        if not self.authorized():
            return
        store = self.server.store
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path == "/_standin/stats":
            with store.lock:
                self.send_json(200, dict(store.stats, resourceVersion=str(store.rv), compacted=str(store.compacted)))
            return
        kind, ns, name = self.route(url.path)
        if kind is None:
            return
        resource = KINDS[kind][1]
        if name is not None:
            store.count("get " + resource)
            self.answer(lambda: (200, store.get(kind, ns or "", name)))
            return
        if q.get("watch") in ("true", "1"):
            store.count("watch " + resource)
            self.watch(kind, ns, q)
        else:
            store.count("list " + resource)
            self.list(kind, ns, q)

    def list(self, kind, ns, q):
        store = self.server.store
        with store.lock:
            while store.hold_lists:
                store.lock.wait()
            objs = sorted((o for (k, n, _), o in store.objects.items() if k == kind and (ns is None or n == ns)),
                          key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            rv = store.rv
            compacted = store.compacted
        start = 0
        if q.get("continue"):
            tok = json.loads(base64.b64decode(q["continue"]))
            if int(tok["rv"]) <= compacted:
                self.send_json(410, status(410, "Expired", "The provided continue parameter is too old to display a "
                                           "consistent list result. You can start a new list without the continue parameter."))
                return
            start, rv = tok["start"], int(tok["rv"])
        limit = int(q.get("limit") or 0)
        page = objs[start:start + limit] if limit > 0 else objs[start:]
        meta = {"resourceVersion": str(rv)}
        if limit > 0 and start + limit < len(objs):
            meta["continue"] = base64.b64encode(json.dumps({"rv": rv, "start": start + limit}).encode()).decode()
            meta["remainingItemCount"] = len(objs) - start - limit
        items = []
        for o in page:
            o = copy.deepcopy(o)
            o.pop("kind", None)  # as the real server: items carry no kind/apiVersion
            o.pop("apiVersion", None)
            items.append(o)
        api_version = KINDS[kind][0].replace("/apis/", "").replace("/api/", "")
        self.send_json(200, {"kind": kind + "List", "apiVersion": api_version, "metadata": meta, "items": items})

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, kind, ns, q):
        store = self.server.store
        timeout = int(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        rv = q.get("resourceVersion", "")
        with store.lock:
            while store.hold:
                store.lock.wait()
            generation = store.generation  # a /drop from now on cuts this watch
        store.count("established watch " + KINDS[kind][1])  # tests wait on this before dropping
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + self.server.bookmark_interval
        api_version = KINDS[kind][0].replace("/apis/", "").replace("/api/", "")
        match = lambda k, o: k == kind and (ns is None or o["metadata"].get("namespace") == ns)
        with store.lock:
            pending = []
            if rv in ("", "0"):
                pending = [("ADDED", copy.deepcopy(o)) for (k, _, _), o in sorted(store.objects.items()) if match(k, o)]
                last = store.rv
            elif int(rv) < store.compacted:
                pending = None
            else:
                last = int(rv)
        try:
            if pending is None:
                self.chunk({"type": "ERROR", "object": status(410, "Expired", "too old resource version: %s (%d)" % (rv, store.compacted))})
                self.wfile.write(b"0\r\n\r\n")
                return
            for etype, obj in pending:
                self.chunk({"type": etype, "object": obj})
            while True:
                with store.lock:
                    while True:
                        if store.generation != generation:
                            # Cut the connection mid-stream: no final chunk, as a crashed server or a broken link.
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if last < store.compacted:
                            pending = None
                            break
                        pending = [(r, e, copy.deepcopy(o)) for (r, k, e, o) in store.history if r > last and match(k, o)]
                        now = time.monotonic()
                        if pending or now >= deadline or (bookmarks and now >= next_bookmark):
                            break
                        store.lock.wait(min(deadline, next_bookmark if bookmarks else deadline) - now)
                    current = store.rv
                if pending is None:
                    self.chunk({"type": "ERROR", "object": status(410, "Expired", "too old resource version: %d (%d)" % (last, store.compacted))})
                    break
                for r, etype, obj in pending:
                    self.chunk({"type": etype, "object": obj})
                    last = r
                if bookmarks and time.monotonic() >= next_bookmark:
                    last = max(last, current)
                    self.chunk({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                                                               "metadata": {"resourceVersion": str(last)}}})
                    next_bookmark = time.monotonic() + self.server.bookmark_interval
                if time.monotonic() >= deadline:
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if self.verbose:  # clients that hang up mid-response are normal here
            super().handle_error(request, client_address)


def load_objects(store, path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".json")) if os.path.isdir(path) else [path]
    for f in files:
        with open(f) as fh:
            doc = json.load(fh)
        for o in doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]:
            store.apply(o)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--objects", action="append", default=[], help="a .json file or a directory of them")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--history", type=int, default=1000, help="events kept for watches; older ones are compacted")
    ap.add_argument("--missing", action="append", default=[], help="a kind served as 404 (its CRD not installed)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    store = Store(a.history)
    for p in a.objects:
        load_objects(store, p)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.store, srv.token, srv.verbose = store, a.token, a.verbose
    srv.bookmark_interval, srv.missing = a.bookmark_interval, set(a.missing)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
