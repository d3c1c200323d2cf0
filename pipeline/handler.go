package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/walhook/walhook/backfill"
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
	pf  ParentFilter // m, when it filters link events on their parents; nil otherwise
	s   Sender
	buf []matcher.Match
	// Log reports parent lookups being retried (nil: discard).
	Log *slog.Logger
	// Backfills, when set, watches the stream for backfills' watermarks and raises their
	// chunks' events (package backfill).
	Backfills *backfill.Tracker
}

// ParentFilter settles link-event matches whose webhooks filter on the parent entity's
// row, which the event does not carry; *matcher.Matcher satisfies it.
type ParentFilter interface {
	// KeepLinkParents returns ms without the matches whose parent row fails the
	// webhook's filters; on a database error it returns the error.
	KeepLinkParents(ctx context.Context, ms []matcher.Match) ([]matcher.Match, error)
}

// NewHandler returns a Handler feeding m's matches to s.
func NewHandler(m Matcher, s Sender) *Handler {
	pf, _ := m.(ParentFilter)
	return &Handler{m: m, pf: pf, s: s}
}

// Resync re-reads the webhooks when m can (a Loader), before a replication session streams:
// a webhook change notified while the database was unreachable, or a webhook set read from
// a database half-way through a restore, must not decide what the first events match.
func (p *Handler) Resync(ctx context.Context) error {
	if p.Backfills != nil {
		p.Backfills.Reset()
	}
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
	if p.Backfills != nil {
		p.Backfills.Observe(ev)
	}
	p.buf = p.m.Match(ev, p.buf[:0])
	if p.pf != nil && len(p.buf) > 0 {
		kept, err := p.keepParents(ctx, p.pf, ev)
		if err != nil {
			return err
		}
		p.buf = kept
	}
	for _, m := range p.buf {
		if err := p.s.Add(ctx, m); err != nil {
			return fmt.Errorf("hand event %s to the sender for webhook %s: %w", ev.ID, m.Webhook.ID, err)
		}
	}
	clear(p.buf)
	return nil
}

// keepParents filters the current matches on their parent rows, retrying a database error
// with backoff while ctx lasts: the reader waits (nothing is acknowledged meanwhile) rather
// than deliver a link event to a webhook whose filter it may fail.
func (p *Handler) keepParents(ctx context.Context, pf ParentFilter, ev *event.Event) (kept []matcher.Match, err error) {
	err = p.retry(ctx, "load link parents to filter event; retrying", func() (err error) {
		kept, err = pf.KeepLinkParents(ctx, p.buf)
		return err
	}, func() []any { return []any{"event_id", string(ev.ID)} })
	return kept, err
}

// retry calls fn until it succeeds or ctx ends, waiting 100 ms, doubling up to 10 s,
// between tries, and logs each failure as msg with attrs (built only then: keepParents
// runs for every matched event): on a database error the reader waits (nothing is
// acknowledged meanwhile) rather than guess.
func (p *Handler) retry(ctx context.Context, msg string, fn func() error, attrs func() []any) error {
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if p.Log != nil {
			p.Log.Warn(msg, append(attrs(), "err", err, "retry_in", wait.String())...)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// reload reads the webhooks again when the matcher can (a Loader), retrying while the
// database is unreachable; attrs name what it is for in the log.
func (p *Handler) reload(ctx context.Context, attrs func() []any) error {
	l, ok := p.m.(Loader)
	if !ok {
		return nil
	}
	return p.retry(ctx, "reload webhooks; retrying", func() error { return l.Load(ctx) }, attrs)
}

// HandleMessage hands a backfill message to the Backfills tracker and its events, each
// meant for its backfill's webhook alone, to the sender.
func (p *Handler) HandleMessage(ctx context.Context, m event.Message) error {
	if p.Backfills == nil || m.Prefix != event.BackfillPrefix {
		return nil
	}
	evs, err := p.Backfills.Message(m)
	if err != nil {
		// Only walhook writes these messages; one it cannot read must not stop the stream.
		if p.Log != nil {
			p.Log.Error("backfill message raises nothing", "xid", m.XID, "lsn", m.CommitLSN.String(), "err", err)
		}
		return nil
	}
	if p.Backfills.Fresh() {
		if err := p.reload(ctx, func() []any { return []any{"xid", m.XID, "lsn", m.CommitLSN.String()} }); err != nil {
			return err
		}
	}
	for _, ev := range evs {
		if err := p.HandleEvent(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// HandleCommit passes the end of txn to the sender, except a backfill's low watermark,
// which the Backfills tracker holds and acknowledges itself.
func (p *Handler) HandleCommit(ctx context.Context, txn event.Txn) error {
	if p.Backfills != nil {
		hold, err := p.Backfills.Commit(ctx, txn)
		if err != nil {
			return fmt.Errorf("commit transaction %d at %s in the backfills: %w", txn.XID, txn.EndLSN, err)
		}
		if hold {
			return nil
		}
	}
	if err := p.s.Commit(ctx, txn); err != nil {
		return fmt.Errorf("commit transaction %d at %s in the sender: %w", txn.XID, txn.EndLSN, err)
	}
	return nil
}

var (
	_ cdc.Handler        = (*Handler)(nil)
	_ cdc.Resyncer       = (*Handler)(nil)
	_ cdc.MessageHandler = (*Handler)(nil)
)
