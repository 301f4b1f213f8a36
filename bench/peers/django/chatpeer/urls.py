"""No HTTP pages: the peer only serves the chat WebSocket."""
urlpatterns = []
