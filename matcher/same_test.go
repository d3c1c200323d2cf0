package matcher

import (
	"testing"
	"time"
)

// TestSameWebhookSeesEveryField: a reload keeps a webhook's compiled form only when nothing
// the sender uses changed, so a PATCH of headers, timeout or signature takes effect.
func TestSameWebhookSeesEveryField(t *testing.T) {
	at := time.Unix(1767322800, 0)
	base := func() *Webhook {
		return &Webhook{ID: "w", URL: "https://x", Events: []string{"*"}, Headers: map[string]string{"X-A": "1"},
			Timeout: time.Second, Space: "s", PreviousSignature: "p", SignatureRotatedAt: &at}
	}
	if !sameWebhook(base(), base()) {
		t.Fatal("identical webhooks differ")
	}
	later := at.Add(time.Second)
	for name, change := range map[string]func(*Webhook){
		"headers":              func(w *Webhook) { w.Headers = map[string]string{"X-A": "2"} },
		"timeout":              func(w *Webhook) { w.Timeout = 2 * time.Second },
		"space":                func(w *Webhook) { w.Space = "t" },
		"previous signature":   func(w *Webhook) { w.PreviousSignature = "q" },
		"signature rotated at": func(w *Webhook) { w.SignatureRotatedAt = &later },
		"format":               func(w *Webhook) { w.Format = "other" },
	} {
		w := base()
		change(w)
		if sameWebhook(base(), w) {
			t.Errorf("a change of %s is not seen", name)
		}
	}
}
