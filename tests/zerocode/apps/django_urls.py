"""The Django project's one view (``GET /chat``)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.urls import path
from opentelemetry import trace

tracer = trace.get_tracer(__name__)
log = logging.getLogger("zerocode.django")


def chat(request: HttpRequest) -> JsonResponse:
    with tracer.start_as_current_span("app work"):
        log.warning("chat handled")
        return JsonResponse({"reply": "hello"})


urlpatterns = [path("chat", chat)]
