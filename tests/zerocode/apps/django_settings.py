"""A Django project's settings (DJANGO_SETTINGS_MODULE), as startproject leaves them, trimmed."""

SECRET_KEY = "zerocode-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "zerocode.apps.django_urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
USE_TZ = True
WSGI_APPLICATION = "zerocode.apps.django_wsgi.application"
ASGI_APPLICATION = "zerocode.apps.django_asgi.application"
