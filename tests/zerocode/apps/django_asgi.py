"""The project's asgi.py, as startproject writes it."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_settings")
application = get_asgi_application()
