package sender

import (
	"context"
	"log/slog"
	"time"

	"github.com/walhook/walhook/internal/ratelog"
	"github.com/walhook/walhook/matcher"
)

// loopDeps is everything a webhook's send loop (hook) uses besides its own state, handed
// to it rather than reached through its owner (STYLE 38, as Prometheus's
// notifier/sendloop.go): the loop can be read, and tested with fakes of its seams, alone.
// The Sender builds one for all its loops (Sender.loopDeps); nothing in it is specific to
// one webhook. The function fields are safe for concurrent use.
type loopDeps struct {
	// cfg gives Linger, DelayHorizon, QueuePollInterval, HookIdleTimeout, MaxBodyBytes,
	// RequestTimeout and Concurrency; it has its defaults filled in.
	cfg    Config
	log    *slog.Logger
	errLog *ratelog.Limiter
	met    *metrics
	// policy is the retry backoff: a failed first attempt is queued for its next try.
	policy  backoff
	render  Renderer
	formats formats
	queue   laneQueue
	mem     memory
	// breakers returns the webhook's circuit breaker (while it is open, chunks go to the
	// queue without an attempt).
	breakers func(webhookID string) *breaker
	// attempt makes one delivery attempt and accounts for it (Sender.attempt); sig is the
	// body's signature when signed ahead (presign), else "".
	attempt func(ctx context.Context, wh *matcher.Webhook, deliveryID string, body []byte, sig string, attempt, items int) attemptResult
	// settleRow records an attempt's result on its queue row (a chunk written to the queue
	// while its first attempt was in flight).
	settleRow func(ctx context.Context, r rowRef, wh *matcher.Webhook, res attemptResult, now time.Time)
	// disable disables a webhook whose endpoint answered 410 Gone to deliveryID and reports
	// whether it is disabled now; nil without a webhook store (Config.Webhooks), when
	// nothing is disabled.
	disable func(ctx context.Context, webhookID, deliveryID string) bool
	// detach removes an idle loop from its owner and reports whether it did; the loop
	// must then return (see Sender.detach).
	detach func(h *hook, now time.Time) bool
	// queued tells the queue's workers that chunks were queued.
	queued func()
	// slots bounds the chunks rendered at the memory limit, sender-wide (nil: unbounded).
	slots *renderSlots
	// record hands a rendered request's chunk record to the delivery log without
	// waiting (logWriter.addChunk); nil: none is kept.
	record func(chunkRecord)
}

// laneQueue is the durable queue as a send loop uses it. *store satisfies it. Its methods
// are safe for concurrent use; on an error the loop logs it and tries again later.
type laneQueue interface {
	// busyLanes returns the lanes of the webhook that hold pending chunks, the redelivery
	// lane (-1) included, in no particular order. The loop parks those lanes before
	// sending anything, and retires only when there are none.
	busyLanes(ctx context.Context, webhookID string) ([]int, error)
	// laneBusy reports whether the lane holds pending chunks.
	laneBusy(ctx context.Context, l laneKey) (bool, error)
	// enqueue writes rows in one transaction, in order, behind what their lanes hold; a
	// row already queued (same webhook and delivery id, as a replay forms) is skipped. It
	// returns each row's id (0: skipped) and whether it became its lane's head. Either all
	// rows are written or, with an error, none.
	enqueue(ctx context.Context, rows []qrow) (ids []int64, heads []bool, err error)
}

// memory accounts for the bytes of events and bodies held in memory, which Add bounds
// (MemoryLimitBytes). Both methods are safe for concurrent use and never block.
type memory interface {
	// charge adds n bytes.
	charge(n int64)
	// release returns n bytes charged before and wakes an Add waiting for memory.
	release(n int64)
	// short reports whether memory is at or over the limit: then the loop renders a
	// lane's next chunk only when nothing else of the lane is in memory.
	short() bool
	// sealed counts n more chunks sealed and not yet resolved (negative: fewer). While
	// there are none, nothing in memory is on its way out: only sealing open chunks
	// can free memory (see Sender.reserve).
	sealed(n int64)
}

// loopDeps returns the dependencies of s's send loops.
func (s *Sender) loopDeps() *loopDeps {
	d := &loopDeps{
		cfg:       s.cfg,
		log:       s.log,
		errLog:    s.errLog,
		met:       s.met,
		policy:    s.policy,
		render:    s.render,
		formats:   s.formats,
		queue:     s.st,
		mem:       s,
		breakers:  s.breakerFor,
		attempt:   s.attempt,
		settleRow: s.settleRow,
		detach:    s.detach,
		queued:    s.signalQueue,
		slots:     newRenderSlots(renderSlotCount(s.cfg.MemoryLimitBytes)),
		record:    s.logw.addChunk,
	}
	if s.cfg.Webhooks != nil {
		d.disable = func(ctx context.Context, webhookID, deliveryID string) bool {
			return s.disable(ctx, webhookID, disabledGone, goneReason, "delivery_id", deliveryID)
		}
	}
	return d
}
