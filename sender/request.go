package sender

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// deliveryNamespace is the UUIDv5 namespace of delivery ids.
var deliveryNamespace = uuid.MustParse("6f0c2a52-3c1e-5b8e-9d0e-77616c686f6b")

// deliveryID returns a chunk's delivery id: a UUIDv5 over the webhook id and the ids of
// the chunk's first and last events. It is the same on every retry of the chunk and when
// a replay after a crash forms the same chunk again, so receivers can deduplicate on it.
func deliveryID(webhookID string, first, last event.EventID) uuid.UUID {
	b := make([]byte, 0, len(webhookID)+len(first)+len(last)+2)
	b = append(b, webhookID...)
	b = append(b, 0)
	b = append(b, first...)
	b = append(b, 0)
	b = append(b, last...)
	return uuid.NewSHA1(deliveryNamespace, b)
}

// signPipeliner returns the WebHook-Signature header value: lowercase hex
// HMAC-SHA256(key = the signature string, message = the body).
func signPipeliner(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signStandard returns the Standard Webhooks webhook-signature header value:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)). The webhook's
// secret, in the scheme's terms, is "whsec_" + base64(key): the HMAC key is the raw
// bytes of the signature string.
func signStandard(key, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// newRequest builds one attempt's request: the body as queued, signed for the attempt's
// time (Standard Webhooks receivers reject stale timestamps, so each retry is signed
// anew), with the webhook's static headers. Within grace of a signature change, the
// previous key signs too.
func newRequest(ctx context.Context, wh *matcher.Webhook, id string, body []byte, now time.Time, userAgent string, grace time.Duration) (*http.Request, error) {
	return newSignedRequest(ctx, wh, id, body, "", now, userAgent, grace)
}

// presign returns the WebHook-Signature of body for wh when it can be computed before the
// attempt — Pipeliner signing, which does not cover the timestamp — and "" otherwise. The
// send loop signs a chunk when it renders it, while the previous chunk is in flight, so
// the HMAC over the body is off the path between one answer and the next request.
func presign(wh *matcher.Webhook, body []byte) string {
	if wh.Signature == "" || wh.Signing == matcher.SigningStandardWebhooks {
		return ""
	}
	return signPipeliner(wh.Signature, body)
}

// newSignedRequest is newRequest with WebHook-Signature given (presign; "" computes it).
func newSignedRequest(ctx context.Context, wh *matcher.Webhook, id string, body []byte, sig string, now time.Time, userAgent string, grace time.Duration) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request for webhook %s: %w", wh.ID, err)
	}
	ts := now.Unix()
	h := req.Header
	for k, v := range wh.Headers {
		h.Set(k, v) // the API refuses names walhook sets below; these come first regardless
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	previous := ""
	if wh.PreviousSignature != "" && wh.SignatureRotatedAt != nil && now.Before(wh.SignatureRotatedAt.Add(grace)) {
		previous = wh.PreviousSignature
	}
	if wh.Signature != "" {
		if wh.Signing == matcher.SigningStandardWebhooks {
			sig := signStandard(wh.Signature, id, ts, body)
			if previous != "" {
				// The scheme's header carries space-separated signatures; a receiver
				// accepts the message when any verifies with its key.
				sig += " " + signStandard(previous, id, ts, body)
			}
			h.Set("Webhook-Signature", sig)
		} else {
			if sig == "" {
				sig = signPipeliner(wh.Signature, body)
			}
			h.Set("WebHook-Signature", sig)
			if previous != "" {
				h.Set("WebHook-Signature-Previous", signPipeliner(previous, body))
			}
		}
	}
	if wh.HTTPAuthUser != "" {
		req.SetBasicAuth(wh.HTTPAuthUser, wh.HTTPAuthPassword)
	}
	return req, nil
}
