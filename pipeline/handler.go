package pipeline

import (
	"context"
	"fmt"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// Matcher finds the webhooks that want an event; *matcher.Matcher satisfies it.
type Matcher interface {
	// Match appends one Match per webhook that wants ev to dst and returns it.
	Match(ev *event.Event, dst []matcher.Match) []matcher.Match
}

// Sender takes matches and commits; *sender.Sender satisfies it.
type Sender interface {
	// Add takes one match of the current transaction; it may block for backpressure.
	Add(ctx context.Context, m matcher.Match) error
	// Commit ends the current transaction.
	Commit(ctx context.Context, txn event.Txn) error
}

// Loader re-reads the webhooks; *matcher.Matcher satisfies it.
type Loader interface {
	// Load replaces the webhook set with the stored one.
	Load(ctx context.Context) error
}

// Handler is the reader's cdc.Handler: it matches each event and hands every match to the
// sender, and passes each commit on. It is used from the reader's goroutine only.
type Handler struct {
	m   Matcher
	s   Sender
	buf []matcher.Match
}

// NewHandler returns a Handler feeding m's matches to s.
func NewHandler(m Matcher, s Sender) *Handler { return &Handler{m: m, s: s} }

// Resync re-reads the webhooks when m can (a Loader), before a replication session streams:
// a webhook change notified while the database was unreachable, or a webhook set read from
// a database half-way through a restore, must not decide what the first events match.
func (p *Handler) Resync(ctx context.Context) error {
	l, ok := p.m.(Loader)
	if !ok {
		return nil
	}
	if err := l.Load(ctx); err != nil {
		return fmt.Errorf("reload webhooks: %w", err)
	}
	return nil
}

// HandleEvent matches ev and hands each match to the sender.
func (p *Handler) HandleEvent(ctx context.Context, ev *event.Event) error {
	p.buf = p.m.Match(ev, p.buf[:0])
	for _, m := range p.buf {
		if err := p.s.Add(ctx, m); err != nil {
			return fmt.Errorf("hand event %s to the sender for webhook %s: %w", ev.ID, m.Webhook.ID, err)
		}
	}
	clear(p.buf)
	return nil
}

// HandleCommit passes the end of txn to the sender.
func (p *Handler) HandleCommit(ctx context.Context, txn event.Txn) error {
	if err := p.s.Commit(ctx, txn); err != nil {
		return fmt.Errorf("commit transaction %d at %s in the sender: %w", txn.XID, txn.EndLSN, err)
	}
	return nil
}

var (
	_ cdc.Handler  = (*Handler)(nil)
	_ cdc.Resyncer = (*Handler)(nil)
)
