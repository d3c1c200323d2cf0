package pipeline

import (
	"context"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/sender"
)

// deliveryLog serves the API's delivery sub-resources from the sender: it turns the
// API's validated filters into the sender's.
type deliveryLog struct{ s *sender.Sender }

var _ api.DeliveryLog = deliveryLog{}

// Deliveries lists the webhook's delivery log entries that f selects.
func (d deliveryLog) Deliveries(ctx context.Context, webhookID string, f api.DeliveryFilter, p api.Page) (any, int, error) {
	return d.s.Deliveries(ctx, webhookID, sender.DeliveryFilter{EventID: f.EventID, Entity: f.Entity, EntityID: f.EntityID,
		Outcome: f.Outcome, Status: f.Status, Since: f.Since}, p.Offset, p.Limit)
}

// Delivery reads one logged chunk.
func (d deliveryLog) Delivery(ctx context.Context, webhookID, deliveryID string) (any, error) {
	return d.s.DeliveryChunk(ctx, webhookID, deliveryID)
}

// DeadLetters lists the webhook's dead letters.
func (d deliveryLog) DeadLetters(ctx context.Context, webhookID string, p api.Page) (any, int, error) {
	return d.s.DeadLetters(ctx, webhookID, p.Offset, p.Limit)
}

// Redeliver queues dead letters again.
func (d deliveryLog) Redeliver(ctx context.Context, webhookID, deadLetterID string) (int, error) {
	return d.s.Redeliver(ctx, webhookID, deadLetterID)
}

// Replay queues the logged chunks of a window again.
func (d deliveryLog) Replay(ctx context.Context, webhookID string, w api.ReplayWindow) (any, error) {
	return d.s.Replay(ctx, webhookID, sender.ReplayWindow{Since: w.Since, Until: w.Until, Outcome: w.Outcome, Status: w.Status})
}
