"""porchlight-edge: the agent on a camera owner's "core" box.

It pairs with the owner's Porchlight account (RFC 8628 device authorization grant), reads the owner's RTSP
cameras to report their health, sends heartbeats and follows the device's desired state. It sends video (WHIP,
`edge.live`) only while the owner shares it live, and it never imports the server's code (`backend`): it talks to
the server over HTTP only.
"""

__version__ = "0.1.0"
