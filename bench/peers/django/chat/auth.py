"""Authentication from a JWT in the query string (?token=), as our gateway's seed endpoint does.

The verdict goes into the scope: scope["chat_user"] is {"author", "image"} for a
good token, else None, and scope["chat_close_code"] says why (4002 bad, 4003
expired). The consumer accepts and then closes with that code, so clients see
the same close codes as from our gateway.
"""
from urllib.parse import parse_qs

import jwt
from channels.middleware import BaseMiddleware
from django.conf import settings

CLOSE_BAD_TOKEN = 4002
CLOSE_EXPIRED_TOKEN = 4003


def verify(token):
    """Returns (identity, None) for a valid HS256 token, else (None, close code)."""
    try:
        claims = jwt.decode(
            token, settings.CHAT_JWT_SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        return None, CLOSE_EXPIRED_TOKEN
    except jwt.InvalidTokenError:
        return None, CLOSE_BAD_TOKEN
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return None, CLOSE_BAD_TOKEN
    name = claims.get("name")
    img = claims.get("img")
    return {
        "author": name if isinstance(name, str) and name else sub,
        "image": img if isinstance(img, str) else "",
    }, None


class JwtQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        user, code = verify(query.get("token", [""])[0])
        scope = dict(scope, chat_user=user, chat_close_code=code)
        return await super().__call__(scope, receive, send)
