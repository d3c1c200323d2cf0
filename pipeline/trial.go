package pipeline

import (
	"context"
	"encoding/json"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/sender"
)

// trial serves the API's test-send and preview: samples and previews from the matcher,
// the test request from the sender.
type trial struct {
	*matcher.Matcher
	snd *sender.Sender
}

var _ api.Trial = trial{}

// SendTest sends the test request through the sender and reports it in the API's terms.
func (t trial) SendTest(ctx context.Context, wh *matcher.Webhook, item json.RawMessage) (api.TestOutcome, error) {
	r, err := t.snd.SendTest(ctx, wh, item)
	if err != nil {
		return api.TestOutcome{}, err
	}
	return api.TestOutcome{DeliveryID: r.DeliveryID, Body: r.Body, Outcome: r.Outcome.String(), Status: r.Status,
		Latency: r.Latency, Response: r.Response, Err: r.Err}, nil
}
