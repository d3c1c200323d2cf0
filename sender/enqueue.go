package sender

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Enqueue writes one request body for target to the durable queue, due now, and returns
// its delivery id. The queue's workers deliver it like any queued chunk: to the URL,
// signature and Basic auth that Config.Webhooks answers for target, with retries for the
// retry window, then as a dead letter. It is for one-off sends (the inbound webhook.send
// command), where target names a send of its own: its chunk is alone in its lane, so it is
// due at once and orders against nothing. The body is sent byte for byte.
func (s *Sender) Enqueue(ctx context.Context, target string, body []byte) (deliveryID string, err error) {
	if s.closed.Load() {
		return "", ErrClosed
	}
	id := uuid.New()
	now := time.Now()
	if _, _, err := s.st.enqueue(ctx, []qrow{{webhookID: target, deliveryID: id, items: 1, body: body,
		committedAt: now, dueAt: now, next: now}}); err != nil {
		return "", fmt.Errorf("enqueue a send to %s: %w", target, err)
	}
	s.signalQueue()
	return id.String(), nil
}
