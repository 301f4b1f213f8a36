"""Settings for the Django benchmark peer: Channels over channels_redis, no database."""
import os

SECRET_KEY = "benchmark-peer-only"  # Django requires one; nothing here is signed with it.
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels", "chat"]
ROOT_URLCONF = "chatpeer.urls"
DATABASES = {}
USE_TZ = True

ASGI_APPLICATION = "chatpeer.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        # The seed's layer, with its defaults (capacity 100, expiry 60 s).
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [("127.0.0.1", int(os.environ.get("REDIS_PORT", "6379")))]},
    }
}

# The HS256 key shared with the token issuer (the same variable as our gateway's).
CHAT_JWT_SECRET = os.environ.get("CHAT_JWT_SECRET", "")
