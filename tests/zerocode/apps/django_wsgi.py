"""The project's wsgi.py, as startproject writes it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_settings")
application = get_wsgi_application()
