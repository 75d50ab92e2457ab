"""The parts of Phoenix's REST and GraphQL APIs that the tests read, over stdlib HTTP.

Usage::

    api = PhoenixAPI(phoenix.url)
    api.sessions("my-project")   # the Sessions view's rows: id, user, traces, tokens, text
    api.spans("my-project")      # every stored span, with its flat attributes
    api.delete_project("my-project")

Sessions come from GraphQL (``getProjectByName { sessions }``, what the UI's
Sessions page shows); spans and projects from the REST API (``/v1/projects``).
Requests never go through a proxy: Phoenix is on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["PhoenixAPI", "PhoenixSession", "PhoenixSpan"]


@dataclass(frozen=True)
class PhoenixSession:
    """One row of Phoenix's Sessions view (GraphQL ``ProjectSession``)."""

    global_id: str
    session_id: str
    user_id: str | None
    traces: int
    prompt_tokens: int
    completion_tokens: int
    first_input: str | None
    last_output: str | None


@dataclass(frozen=True)
class PhoenixSpan:
    """A span as Phoenix stored it: its ids, name, start and flat attributes."""

    global_id: str  # Phoenix's node id, as its pages' URLs take it
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_time: str  # ISO 8601, UTC: sorts in time order
    attributes: dict[str, Any]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SESSIONS_QUERY = """
query Sessions($project: String!, $after: String) {
  getProjectByName(name: $project) {
    sessions(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id sessionId userId numTraces
        tokenUsage { prompt completion }
        firstInput { value }
        lastOutput { value }
      } }
    }
  }
}
"""


class PhoenixAPI:
    """The parts of Phoenix's REST and GraphQL APIs the tests read (stdlib HTTP)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _open(self, request: urllib.request.Request) -> bytes:
        with _NO_PROXY.open(request, timeout=self.timeout) as response:
            return bytes(response.read())

    def _request(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        payload = self._open(urllib.request.Request(self.url + path, data, headers, method=method))
        return json.loads(payload) if payload else None

    def _rest_pages(self, path: str, **query: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = dict(query, **({"cursor": cursor} if cursor else {}))
            page = self._request("GET", f"{path}?{urllib.parse.urlencode(params)}")
            rows.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return rows

    def page(self, path: str) -> str:
        """The body of a UI page, as a browser first receives it."""
        return self._open(urllib.request.Request(self.url + path)).decode("utf-8")

    def version(self) -> str:
        return self.page("/arize_phoenix_version").strip()

    def project_id(self, project: str) -> str | None:
        try:
            found = self._request("GET", f"/v1/projects/{urllib.parse.quote(project)}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return str(found["data"]["id"])

    def delete_project(self, project: str) -> None:
        """Delete the project, its traces and its sessions (with every trace in them)."""
        try:
            self._request("DELETE", f"/v1/projects/{urllib.parse.quote(project)}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise

    def spans(self, project: str) -> list[PhoenixSpan]:
        rows = self._rest_pages(f"/v1/projects/{urllib.parse.quote(project)}/spans", limit="1000")
        return [
            PhoenixSpan(
                global_id=row["id"],
                trace_id=row["context"]["trace_id"],
                span_id=row["context"]["span_id"],
                parent_id=row.get("parent_id"),
                name=row["name"],
                start_time=row["start_time"],
                attributes=dict(row.get("attributes") or {}),
            )
            for row in rows
        ]

    def sessions(self, project: str) -> list[PhoenixSession]:
        sessions: list[PhoenixSession] = []
        after: str | None = None
        while True:
            answer = self._request(
                "POST",
                "/graphql",
                {"query": _SESSIONS_QUERY, "variables": {"project": project, "after": after}},
            )
            if answer.get("errors"):
                raise RuntimeError(f"Phoenix GraphQL errors: {answer['errors']}")
            found = answer["data"]["getProjectByName"]
            if found is None:
                return sessions
            connection = found["sessions"]
            sessions.extend(_session(edge["node"]) for edge in connection["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                return sessions
            after = connection["pageInfo"]["endCursor"]


def _session(node: dict[str, Any]) -> PhoenixSession:
    usage = node["tokenUsage"]
    return PhoenixSession(
        global_id=node["id"],
        session_id=node["sessionId"],
        user_id=node["userId"],
        traces=int(node["numTraces"]),
        prompt_tokens=int(usage["prompt"]),
        completion_tokens=int(usage["completion"]),
        first_input=(node["firstInput"] or {}).get("value"),
        last_output=(node["lastOutput"] or {}).get("value"),
    )
