package sender

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/matcher"
)

// TestHeader marks a test request (POST …/Webhooks/{id}/test, DESIGN.md §14): it is
// "true" on test requests and absent from every delivery. The API refuses it as a
// static header, so a receiver can trust it to tell a test from a real event.
const TestHeader = "Walhook-Test"

// TestResult is the outcome of one test request.
type TestResult struct {
	// DeliveryID is the request's Webhook-Id: a random UUID (version 4), never one a
	// delivery has (those are version 5).
	DeliveryID string
	// Body is the exact request body sent (and signed).
	Body []byte
	// Outcome classifies the attempt as a delivery attempt would be.
	Outcome Outcome
	// Status is the response status; 0 when there was no response.
	Status int
	// Latency is from sending the request until its response was read (up to 4 KiB,
	// the rest drained) or the request failed.
	Latency time.Duration
	// Response is the start of the response body, up to 4 KiB.
	Response []byte
	// Err describes a failure without a response (naming only the URL's origin); "" when
	// there was a response.
	Err string
}

// SendTest sends item, one rendered delivery item (a sample: matcher.Sample), to webhook
// wh once, synchronously, as its own request: in the webhook's payload format (a
// Pipeliner chunk of one item, or Pipedrive's v1 or v2 body), signed, with its static
// headers and Basic auth, through the delivery client (private-target guard at dial
// time, TLS per insecure_ssl, redirects not followed, the webhook's timeout), plus
// TestHeader. It is never retried or queued, is not written to the delivery log, and
// leaves the webhook's circuit breaker, status (a 410 does not disable it) and delivery
// metrics alone. A paused or disabled webhook is sent to as well: the test is explicit.
// The error is ctx's when it ends first; every outcome of the request itself is in the
// result.
func (s *Sender) SendTest(ctx context.Context, wh *matcher.Webhook, item json.RawMessage) (TestResult, error) {
	id := uuid.New()
	res := TestResult{DeliveryID: id.String()}
	res.Body = s.formats.of(wh).appendBody(nil, wh.ID, id, []json.RawMessage{item})
	actx, cancel := context.WithTimeout(ctx, attemptTimeout(s.cfg, wh))
	defer cancel()
	start := time.Now()
	req, err := newRequest(actx, wh, res.DeliveryID, res.Body, start, s.ua, s.cfg.RotationGrace)
	var header http.Header
	if err == nil {
		req.Header.Set(TestHeader, "true")
		var r *http.Response
		if r, err = s.clients.get(wh.InsecureSSL).Do(req); err == nil {
			res.Status, header = r.StatusCode, r.Header
			res.Response = readResponse(r.Body)
		}
	}
	end := time.Now()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Latency = end.Sub(start)
	res.Outcome = classify(res.Status, header, err, end).Outcome
	if err != nil {
		res.Err = describeError(wh.URL, err)
	}
	s.log.Info("test request sent", "webhook_id", wh.ID, "delivery_id", res.DeliveryID,
		"outcome", res.Outcome.String(), "status", res.Status, "duration_ms", res.Latency.Milliseconds())
	return res, nil
}
