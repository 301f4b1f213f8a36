"""The seed's chat consumer: every frame goes to the channel's group, and every
socket in the group sends it on in the seed's shape. Nothing is stored."""
import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group_name = None
        self.user = self.scope["chat_user"]
        if self.user is None:
            await self.accept()
            await self.close(code=self.scope["chat_close_code"])
            return
        route = self.scope["url_route"]["kwargs"]
        self.server = route["server"]
        self.channel = route["channel"]
        self.group_name = f"chat.{self.server}.{self.channel}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None or self.group_name is None:
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("type", "chat_message") != "chat_message":
            return
        if not isinstance(data.get("message"), str) or "id" not in data:
            return
        # Identity from the token and place from the URL; the seed took the
        # frame's author, image, server and channel as sent.
        await self.channel_layer.group_send(
            self.group_name,
            {
                "type": "chat_message",
                "message": data["message"],
                "author": self.user["author"],
                "image": self.user["image"],
                "server": self.server,
                "channel": self.channel,
                "id": data["id"],
            },
        )

    async def chat_message(self, event):
        await self.send(
            text_data=json.dumps(
                {
                    "type": "chat_message",
                    "message": event["message"],
                    "author": event["author"],
                    "image": event["image"],
                    "server": event["server"],
                    "channel": event["channel"],
                    "id": event["id"],
                },
                separators=(",", ":"),
            )
        )
