"""The scenario on Django, ASGI (``django_app:asgi``) and WSGI (``django_app:wsgi``).

Django settings are process-global, so this module configures them at import
and is only ever imported by a server subprocess, never by pytest itself. The
streamed route is a ``StreamingHttpResponse`` over a *synchronous* iterator:
under ASGI Django consumes it through ``sync_to_async``, which copies the
context, so its spans carry the ids too (pitfall 48).
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="ecosystem-tests-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=[],
    # CommonMiddleware sets Content-Length, without which waitress closes the
    # connection after each reply (as a default Django project has it anyway).
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    USE_TZ=True,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import (  # noqa: E402
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

from otel_genai_session import set_session_context  # noqa: E402
from otel_genai_session.middleware import (  # noqa: E402
    GenAISessionMiddleware,
    SessionWSGIMiddleware,
)

from . import tracing  # noqa: E402
from .common import MIDDLEWARE_OPTIONS, TAG_HEADER, chunks, fail, reply, tagged_span  # noqa: E402

tracer = tracing.configure().get_tracer(__name__)


def _peer(request: HttpRequest) -> int | None:
    port = request.META.get("REMOTE_PORT")
    return int(port) if port else None


@csrf_exempt
@require_POST
def chat(request: HttpRequest) -> HttpResponse:
    document = json.loads(request.body)
    with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
        return JsonResponse(reply(echo=document, peer=_peer(request), pid=os.getpid()))


@require_GET
def stream(request: HttpRequest) -> HttpResponse:
    return StreamingHttpResponse(chunks(tracer, request.headers.get(TAG_HEADER)))


@require_GET
def error(request: HttpRequest) -> HttpResponse:
    fail(tracer, request.headers.get(TAG_HEADER))
    raise AssertionError("unreachable")


@require_GET
def plain(request: HttpRequest) -> HttpResponse:
    with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
        return JsonResponse(reply(peer=_peer(request), pid=os.getpid()))


@csrf_exempt
@require_POST
def leak(request: HttpRequest) -> HttpResponse:
    set_session_context(session_id="leaked-by-app", user_id="leaked-user")
    with tagged_span(tracer, "leak", request.headers.get(TAG_HEADER)):
        return JsonResponse(reply(peer=_peer(request), pid=os.getpid()))


urlpatterns = [
    path("chat", chat),
    path("stream", stream),
    path("error", error),
    path("plain", plain),
    path("leak", leak),
]

asgi = GenAISessionMiddleware(get_asgi_application(), **MIDDLEWARE_OPTIONS)
wsgi = SessionWSGIMiddleware(get_wsgi_application(), **MIDDLEWARE_OPTIONS)
