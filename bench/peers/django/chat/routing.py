"""The seed's chat route: /ws/chat/<server>/<channel>/ (trailing slash optional)."""
from django.urls import re_path

from . import consumers

# Ids as our gateway accepts them, capped so that the group name stays under
# Channels' 100-character limit.
_ID = r"[A-Za-z0-9_-]{1,45}"

websocket_urlpatterns = [
    re_path(rf"^ws/chat/(?P<server>{_ID})/(?P<channel>{_ID})/?$", consumers.ChatConsumer.as_asgi()),
]
