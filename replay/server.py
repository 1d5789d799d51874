"""A real local HTTP server that replays recorded upstream responses on 127.0.0.1.

It emulates what hccwatch relies on (ClinicalTrials.gov v2 paging with pageToken, the
LastUpdatePostDate filter and `fields`, static files with ETag/304), injects faults on demand (429 with or
without Retry-After, 5xx, stalls, truncated bodies, invalid JSON) and logs every request so a
test can check pacing. Used by the tests and by `hccwatch demo`."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    at: float = 0.0


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected misbehaviour. kind: status | stall | truncate | invalid_json | drop."""

    kind: str = "status"
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    body: bytes = b""
    # Only requests carrying these parameter values get the fault (e.g. one topic's query).
    match: dict[str, str] = field(default_factory=dict)

    def applies_to(self, request: Request) -> bool:
        return all(request.params.get(k) == v for k, v in self.match.items())


Handler = Callable[[Request], Response]


class ReplayServer:
    """ThreadingHTTPServer on 127.0.0.1 with prefix routes, a fault queue and a request log."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the replay server only binds loopback addresses")
        self._routes: list[tuple[str, Handler]] = []
        self._faults: list[tuple[str, Fault]] = []
        self._lock = threading.Lock()
        self.log: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                server._serve(self, "POST")

            def log_message(self, *_args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReplayServer:
        # stop() waits for the serve loop to notice: poll often (the default half second
        # made every test that starts a server wait that long at its end)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True,
                                        name="replay-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route(self, prefix: str, handler: Handler) -> None:
        self._routes.append((prefix, handler))
        self._routes.sort(key=lambda item: -len(item[0]))

    def inject(self, prefix: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests under `prefix` get `fault` instead of the real answer."""
        with self._lock:
            self._faults.extend((prefix, fault) for _ in range(times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests(self, prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(prefix)]

    def max_per_second(self, prefix: str = "") -> int:
        """The most requests under `prefix` seen inside any one-second window."""
        times = sorted(r.at for r in self.requests(prefix))
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for index, (prefix, fault) in enumerate(self._faults):
                if request.path.startswith(prefix) and fault.applies_to(request):
                    del self._faults[index]
                    return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if method == "POST" and "form" in (handler.headers.get("Content-Type") or ""):
            params.update({k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
        request = Request(method, parts.path, params, {k.lower(): v for k, v in handler.headers.items()},
                          body, time.monotonic())
        with self._lock:
            self.log.append(request)
        fault = self._take_fault(request)
        if fault and fault.kind == "stall":
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        response = self._answer(request, fault)
        truncate = fault is not None and fault.kind == "truncate"
        self._write(handler, response, truncate)

    def _answer(self, request: Request, fault: Fault | None) -> Response:
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Response(fault.status, fault.body or f"injected {fault.status}".encode(),
                            "text/plain", headers)
        if fault and fault.kind == "invalid_json":
            return Response(200, fault.body or b'{"studies": [{"protocolSection": ', "application/json")
        for prefix, route in self._routes:
            if request.path.startswith(prefix):
                try:
                    return route(request)
                except Exception as error:  # a replay bug must show as a 500, not hang the client
                    return Response(500, f"replay handler error: {error}".encode(), "text/plain")
        return Response(404, f"no recording for {request.path}".encode(), "text/plain")

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, response: Response, truncate: bool) -> None:
        body = response.body
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if truncate:
            handler.wfile.write(body[: max(1, len(body) // 2)])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if handler.command != "HEAD" and response.status != 304:
            handler.wfile.write(body)


# ---------------------------------------------------------------- ClinicalTrials.gov v2

_RANGE_RE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[([^,\]]+),\s*MAX\]")
_FIELD_TAG = re.compile(r"\[[^\]]*\]|\b[A-Z_]+:(?!\s)")
_TOKEN = re.compile(r'"([^"]*)"|(\()|(\))|([^\s()"]+)')


def query_matches(text: str, query: str) -> bool:
    """Evaluate a search query (Essie, PubMed or Europe PMC style: AND/OR/NOT, parentheses,
    "phrases", trailing * wildcards; field tags ignored) against a text, words matched whole
    and case-insensitively. An emulation good enough for replaying recordings, no more."""
    tokens = [m.group(1) if m.group(1) is not None else m.group(0)
              for m in _TOKEN.finditer(_FIELD_TAG.sub(" ", query))]
    haystack = " " + re.sub(r"[^\w*]+", " ", text.lower()) + " "
    position = 0

    def term(word: str) -> bool:
        words = re.sub(r"[^\w*]+", " ", word.lower()).split()
        if not words:
            return True
        pattern = r"\s".join(re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "") for w in words)
        return re.search(rf"(?<!\w){pattern}(?!\w)", haystack) is not None

    def primary() -> bool:
        nonlocal position
        token = tokens[position] if position < len(tokens) else ""
        position += 1
        if token == "(":
            value = disjunction()
            position += 1  # the closing parenthesis
            return value
        if token.upper() == "NOT":
            return not primary()
        return term(token)

    def conjunction() -> bool:
        nonlocal position
        value = primary()
        while position < len(tokens) and tokens[position] not in (")",) and tokens[position].upper() != "OR":
            if tokens[position].upper() == "AND":
                position += 1
            value = primary() and value
        return value

    def disjunction() -> bool:
        nonlocal position
        value = conjunction()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            value = conjunction() or value
        return value

    return disjunction() if tokens else True


# Piece names whose JSON path is not simply a key of the same name (as the recorded answers
# to `fields=StartDate,LeadSponsorName,...` show); other names match any key case-insensitively
# (NCTId -> nctId, BriefTitle -> briefTitle, ProtocolSection -> protocolSection).
_LOCATIONS = "protocolSection.contactsLocationsModule.locations"
PIECES = {
    "Phase": "protocolSection.designModule.phases",
    "Condition": "protocolSection.conditionsModule.conditions",
    "Keyword": "protocolSection.conditionsModule.keywords",
    "InterventionName": "protocolSection.armsInterventionsModule.interventions.name",
    "InterventionType": "protocolSection.armsInterventionsModule.interventions.type",
    "InterventionOtherName": "protocolSection.armsInterventionsModule.interventions.otherNames",
    "LeadSponsorName": "protocolSection.sponsorCollaboratorsModule.leadSponsor.name",
    "EnrollmentCount": "protocolSection.designModule.enrollmentInfo.count",
    "StartDate": "protocolSection.statusModule.startDateStruct.date",
    "PrimaryCompletionDate": "protocolSection.statusModule.primaryCompletionDateStruct.date",
    "CompletionDate": "protocolSection.statusModule.completionDateStruct.date",
    "LastUpdatePostDate": "protocolSection.statusModule.lastUpdatePostDateStruct.date",
    **{f"Location{part}": f"{_LOCATIONS}.{part[0].lower()}{part[1:]}"
       for part in ("Facility", "Status", "City", "State", "Zip", "Country", "GeoPoint")},
    **{f"LocationContact{part}": f"{_LOCATIONS}.contacts.{key}"
       for part, key in (("Name", "name"), ("Role", "role"), ("Phone", "phone"), ("EMail", "email"))},
    **{f"CentralContact{part}": f"protocolSection.contactsLocationsModule.centralContacts.{key}"
       for part, key in (("Name", "name"), ("Role", "role"), ("Phone", "phone"), ("EMail", "email"))},
}


def fields_only(study: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """`study` cut to what `fields` asks for, as the real API does: dotted paths (through lists;
    a branch brings everything below it) and piece or field names."""
    paths = set()
    for name in fields:
        name = name.strip()
        if "." in name:
            paths.add(name)
        elif name in PIECES:
            paths.add(PIECES[name])
        else:
            paths.update(_paths_named(study, name.lower()))
    return _cut(study, sorted(paths))


def _paths_named(value: Any, name: str, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key called `name` (any case) in a study."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        for key, child in item.items() if isinstance(item, dict) else ():
            path = f"{prefix}{key}"
            if key.lower() == name:
                yield path
            else:
                yield from _paths_named(child, name, f"{path}.")


def _cut(value: Any, paths: list[str]) -> Any:
    if isinstance(value, list):
        return [_cut(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    wanted: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if head in value:
            wanted.setdefault(head, []).append(rest)
    return {key: value[key] if "" in rests else _cut(value[key], rests) for key, rests in wanted.items()}


class CtgovHandler:
    """/studies over a list of study objects: query filtering, date filter, pageToken paging,
    and `fields`."""

    def __init__(self, studies: Iterable[dict[str, Any]], *, filter_queries: bool = True,
                 max_page_size: int = 1000):
        self.studies = list(studies)
        self.filter_queries = filter_queries
        self.max_page_size = max_page_size  # the real API coerces larger sizes down to 1000

    def __call__(self, request: Request) -> Response:
        if request.path.rstrip("/").endswith("/version"):
            return Response(body=json.dumps({"apiVersion": "2.0.5-replay"}).encode())
        match = re.search(r"/studies/(NCT\d{8})$", request.path, re.IGNORECASE)
        if match:
            return self._one(match.group(1).upper(), request.params.get("fields"))
        if not request.path.rstrip("/").endswith("/studies"):
            return Response(404, b"not found", "text/plain")
        unknown = [k for k in request.params if not k.startswith(("query.", "filter.", "postFilter."))
                   and k not in {"pageSize", "pageToken", "countTotal", "format", "fields", "sort"}]
        if unknown:
            return Response(400, f"Unknown parameter `{unknown[0]}`".encode(), "text/plain")
        selected = [s for s in self.studies if self._selected(s, request.params)]
        return self._page(selected, request.params)

    def _one(self, nct: str, fields: str | None = None) -> Response:
        for study in self.studies:
            if _nct(study) == nct:
                return Response(body=json.dumps(_with_fields(study, fields)).encode())
        return Response(404, f"NCT number {nct} not found".encode(), "text/plain")

    def _selected(self, study: dict[str, Any], params: dict[str, str]) -> bool:
        since = _RANGE_RE.search(params.get("filter.advanced", ""))
        if since:
            updated = (study.get("protocolSection", {}).get("statusModule", {})
                       .get("lastUpdatePostDateStruct", {}).get("date") or "")
            if updated < since.group(1):
                return False
        if not self.filter_queries:
            return True
        text = json.dumps(study, ensure_ascii=False)
        return all(query_matches(text, value)
                   for key, value in params.items() if key.startswith("query.") and value)

    def _page(self, selected: list[dict[str, Any]], params: dict[str, str]) -> Response:
        size = min(int(params.get("pageSize") or 10) or 10, self.max_page_size)
        token = params.get("pageToken")
        offset = 0
        if token:
            if not token.startswith("tok-") or not token[4:].isdigit():
                return Response(400, b"Invalid pageToken", "text/plain")
            offset = int(token[4:])
        chunk = [_with_fields(study, params.get("fields")) for study in selected[offset: offset + size]]
        page: dict[str, Any] = {"studies": chunk}
        if offset + size < len(selected):
            page["nextPageToken"] = f"tok-{offset + size}"
        if params.get("countTotal") == "true" and not token:
            page["totalCount"] = len(selected)
        return Response(body=json.dumps(page).encode())


def _with_fields(study: dict[str, Any], fields: str | None) -> dict[str, Any]:
    return fields_only(study, re.split(r"[,|]", fields)) if fields else study


def _nct(study: dict[str, Any]) -> str | None:
    return study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")


def studies_from_recordings(bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """Flatten recorded /studies pages and single-study records into one study list (by NCT id)."""
    seen: dict[str, dict[str, Any]] = {}
    for body in bodies:
        data = json.loads(body)
        for study in data.get("studies", [data]):
            nct = _nct(study)
            if nct:
                seen[nct] = study
    return list(seen.values())



def cloned_studies(studies: list[dict[str, Any]], count: int, *, first_nct: int = 90_000_000,
                   shared: bool = False) -> list[dict[str, Any]]:
    """`count` copies of recorded studies, each with its own NCT id (for load and crash tests).
    `shared` clones copy only what holds the id and share the rest: thousands of full records
    cost little memory, but must not be changed."""
    clones = []
    for number in range(count):
        original = studies[number % len(studies)]
        if shared:
            protocol = original["protocolSection"]
            study = {**original, "protocolSection": {
                **protocol, "identificationModule": dict(protocol["identificationModule"])}}
        else:
            study = json.loads(json.dumps(original))
        study["protocolSection"]["identificationModule"]["nctId"] = f"NCT{first_nct + number:08d}"
        clones.append(study)
    return clones

# ---------------------------------------------------------------- static files with ETag

class StaticHandler:
    """Serves fixed bodies by path with a strong ETag and Last-Modified; honours conditional GET."""

    def __init__(self, files: dict[str, tuple[bytes, str]] | None = None,
                 last_modified: str = "Mon, 16 Nov 2026 08:00:00 GMT"):
        self.files = dict(files or {})
        self.last_modified = last_modified

    def put(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> None:
        self.files[path] = (body, content_type)

    def __call__(self, request: Request) -> Response:
        if request.path not in self.files:
            return Response(404, b"<html><body>Not found</body></html>", "text/html")
        body, content_type = self.files[request.path]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": self.last_modified}
        if request.headers.get("if-none-match") == etag or (
                "if-none-match" not in request.headers
                and request.headers.get("if-modified-since") == self.last_modified):
            return Response(304, b"", content_type, headers)
        return Response(200, body, content_type, headers)
