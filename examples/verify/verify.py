"""Checks the signatures of walhook's deliveries in a Python receiver. secret is the
webhook's signature string; body is the exact request body as bytes (Flask:
request.get_data()), before any JSON parsing."""
import base64
import hashlib
import hmac
import time


def verify_pipeliner(secret: str, body: bytes, signature: str) -> bool:
    """signing "pipeliner": signature is the WebHook-Signature header."""
    want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, signature or "")


def verify_standard_webhooks(secret: str, body: bytes, msg_id: str, timestamp: str,
                             signatures: str, now: float | None = None) -> bool:
    """signing "standard-webhooks": msg_id, timestamp and signatures are the webhook-id,
    webhook-timestamp and webhook-signature headers."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > 300:
        return False
    mac = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    want = "v1," + base64.b64encode(mac.digest()).decode()
    return any(hmac.compare_digest(want, sig) for sig in signatures.split())
