// Checks the signatures of walhook's deliveries in a Node receiver. secret is the
// webhook's signature string; body is the exact request body as a Buffer (for example
// express.raw({ type: "application/json" })), before any JSON parsing.
const crypto = require("node:crypto");

const same = (a, b) => a.length === b.length && crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

// signing "pipeliner": signature is the WebHook-Signature header.
function verifyPipeliner(secret, body, signature) {
  const want = crypto.createHmac("sha256", secret).update(body).digest("hex");
  return typeof signature === "string" && same(want, signature);
}

// signing "standard-webhooks": id, timestamp and signatures are the webhook-id,
// webhook-timestamp and webhook-signature headers.
function verifyStandardWebhooks(secret, body, id, timestamp, signatures, nowSeconds = Date.now() / 1000) {
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 300) return false;
  const want = "v1," + crypto.createHmac("sha256", secret).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return String(signatures).split(" ").some((sig) => same(want, sig));
}

module.exports = { verifyPipeliner, verifyStandardWebhooks };
