package sender

import (
	"context"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
)

// TestWebhookTimeoutBoundsTheAttempt: a webhook's own timeout, not RequestTimeout, ends an
// attempt to an endpoint that does not answer; it is capped by MaxRequestTimeout.
func TestWebhookTimeoutBoundsTheAttempt(t *testing.T) {
	srv := newHoldingReceiver(t)
	defer srv.release()
	cfg := testConfig()
	cfg.RequestTimeout, cfg.MaxRequestTimeout = time.Minute, 2*time.Minute
	s := New(cfg, itemRenderer{}, nil, func(event.LSN) {})
	defer s.Close(context.Background())

	wh := newWebhook(srv.URL)
	wh.Timeout = 200 * time.Millisecond
	// The caller gives up after 10s: only the webhook's timeout can end the attempt first
	// with a timeout outcome (the caller's cancellation aborts it instead).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := s.attempt(ctx, wh, "d", []byte(`{}`), "", 1, 1)
	if res.aborted || res.v.Outcome != OutcomeTimeout {
		t.Fatalf("aborted %t, outcome %s (%s): want a timeout outcome from the webhook's own 200ms", res.aborted, res.v.Outcome, res.errText)
	}
}
