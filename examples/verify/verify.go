// Package verify checks the signatures of walhook's deliveries in a Go receiver (copy it,
// or import github.com/walhook/walhook/examples/verify). secret is the webhook's
// signature string; body is the exact request body, before any JSON decoding.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Pipeliner checks signing "pipeliner": the WebHook-Signature header is the lowercase hex
// HMAC-SHA256 of the body, keyed with secret.
func Pipeliner(secret string, body []byte, signature string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(signature))
}

// StandardWebhooks checks signing "standard-webhooks": one of the space-separated
// "v1,<base64>" signatures of the webhook-signature header is the HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>", keyed with secret's bytes, and the timestamp
// is within five minutes of now.
func StandardWebhooks(secret string, body []byte, id, timestamp, signatures string, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(signatures) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
