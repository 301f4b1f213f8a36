"""ASGI entry point: HTTP through Django, WebSockets through Channels."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpeer.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.auth import JwtQueryAuthMiddleware  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": JwtQueryAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
