package demo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Receiver is the demo's webhook endpoint: it verifies each delivery's WebHook-Signature
// (HMAC-SHA256 of the exact body, keyed with the webhook's signature string), answers 401
// to a bad one, and prints one line per item. It is an http.Handler.
type Receiver struct {
	// Secret is the webhook's signature string; empty accepts unsigned deliveries.
	Secret string
	Out    io.Writer

	mu         sync.Mutex
	deliveries atomic.Int64
	items      atomic.Int64
	rejected   atomic.Int64
}

// delivery is the part of a delivery body the receiver prints.
type delivery struct {
	WebhookID  string `json:"webhook_id"`
	DeliveryID string `json:"delivery_id"`
	Items      []struct {
		ID       string `json:"id"`
		Event    string `json:"event"`
		Entity   string `json:"entity"`
		EntityID string `json:"entity_id"`
	} `json:"items"`
}

// ServeHTTP verifies and prints one delivery.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !Verify(rc.Secret, body, r.Header.Get("WebHook-Signature")) {
		rc.rejected.Add(1)
		rc.printf("REJECTED delivery %s: bad WebHook-Signature\n", r.Header.Get("Webhook-Id"))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var d delivery
	if err := json.Unmarshal(body, &d); err != nil {
		http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc.deliveries.Add(1)
	rc.items.Add(int64(len(d.Items)))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fmt.Fprintf(rc.Out, "delivery %s: %d item(s), signature ok\n", d.DeliveryID, len(d.Items))
	for _, it := range d.Items {
		fmt.Fprintf(rc.Out, "  %-32s %-12s %s\n", it.Event, it.Entity, it.EntityID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *Receiver) printf(format string, args ...any) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fmt.Fprintf(rc.Out, format, args...)
}

// Counts returns the deliveries and items accepted, and the deliveries rejected.
func (rc *Receiver) Counts() (deliveries, items, rejected int64) {
	return rc.deliveries.Load(), rc.items.Load(), rc.rejected.Load()
}

// Verify reports whether sig is the lowercase hex HMAC-SHA256 of body keyed with secret;
// with an empty secret every body is accepted. It compares in constant time.
func Verify(secret string, body []byte, sig string) bool {
	if secret == "" {
		return true
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}
