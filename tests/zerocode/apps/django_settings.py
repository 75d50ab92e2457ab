"""A Django project's settings (DJANGO_SETTINGS_MODULE), as startproject leaves them, trimmed."""

SECRET_KEY = "zerocode-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "apps.django_urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
USE_TZ = True
WSGI_APPLICATION = "apps.django_wsgi.application"
ASGI_APPLICATION = "apps.django_asgi.application"
