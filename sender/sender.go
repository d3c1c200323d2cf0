package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/ratelog"
	"github.com/walhook/walhook/matcher"
)

// Renderer renders the delivery items of a webhook's events: one ITEM JSON object per
// event, in order (with load-only and expand applied, expansions batched), by sub, the
// compiled subscription that Match handed out with the events. The items' bytes go into
// buf[:0], grown when short, and the buffer is returned, on error too: the sender copies
// the items into request bodies and renders the next chunk into the same buffer, so the
// renderer must keep neither buf nor the items once it returns. The matcher satisfies it.
// Safe for concurrent use, each call with a buffer of its own; an error is retried.
type Renderer interface {
	RenderAppend(ctx context.Context, buf []byte, sub matcher.Subscription, evs []*event.Event) (items []json.RawMessage, _ []byte, _ error)
}

// ErrClosed is returned by Add, Commit and Run once Close was called.
var ErrClosed = errors.New("sender closed")

// Sender delivers matched events to webhooks. See the package documentation for its
// guarantees. Add and Commit are called from one goroutine (the replication reader's);
// every other method is safe for concurrent use.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	render  Renderer
	formats formats
	st      *store
	ack     func(event.LSN)
	met     *metrics
	clients clients
	policy  backoff
	ua      string
	errLog  *ratelog.Limiter
	logw    *logWriter
	deps    *loopDeps // of every webhook's send loop

	// ctx ends at Close; hook loops and attempts run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // hook loops (each waits for its attempts) and Run
	loops  atomic.Int64   // hook loops started and not yet returned
	closed atomic.Bool

	// mu guards hooks, breakers (and each slot's used), running and runDone. Lock
	// order: mu before a hook's mu and a breaker's mu.
	mu       sync.Mutex
	hooks    map[string]*hook // loops running, by webhook id; a loop removes itself (detach)
	breakers map[string]*breakerSlot
	running  bool
	runDone  chan struct{}

	mem      atomic.Int64
	memFreed chan struct{} // coalescing: memory was released
	// sealedChunks counts chunks sealed and not yet resolved: with none, waiting frees
	// no memory (reserve).
	sealedChunks atomic.Int64
	queueWake    chan struct{} // coalescing: a chunk was queued here

	// Reader goroutine only.
	cur     *txnRef
	touched []*hook
	// lastEv is the event Add saw last and lastShare its memory, on which the reader
	// holds a reference until another event comes (or Commit); shares are allocated from
	// slab, 256 at a time.
	lastEv    *event.Event
	lastShare *share
	slab      []share
}

// New returns a Sender that keeps its durable queue and delivery log in the walhook
// schema reached through pool and calls ack with a transaction's end LSN once every
// chunk holding one of its events is delivered or durably queued (or at once when none
// matched). New does no I/O; Run must run for queued chunks to be delivered and the
// delivery log to be written.
func New(cfg Config, r Renderer, pool *pgxpool.Pool, ack func(event.LSN)) *Sender {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		cfg:       cfg,
		log:       cfg.Logger,
		render:    r,
		formats:   defaultFormats(),
		st:        &store{pool: pool},
		ack:       ack,
		clients:   newClients(cfg.MaxRequestTimeout, cfg.AllowPrivateTargets),
		policy:    backoff{min: cfg.RetryMinBackoff, max: cfg.RetryMaxBackoff, window: cfg.RetryWindow},
		ua:        "walhook/" + cfg.Version,
		errLog:    ratelog.New(time.Minute),
		ctx:       ctx,
		cancel:    cancel,
		hooks:     map[string]*hook{},
		breakers:  map[string]*breakerSlot{},
		memFreed:  make(chan struct{}, 1),
		queueWake: make(chan struct{}, 1),
	}
	s.met = newMetrics(cfg.Registerer, func() float64 { return float64(s.mem.Load()) }, s.countOpenBreakers)
	s.logw = newLogWriter(s.met, cfg.PayloadRetention > 0)
	s.deps = s.loopDeps()
	return s
}

// Add takes one matched event. Events arrive in commit order and belong to the
// transaction that the next Commit closes. Before a new event, Add blocks while in-memory
// work is over MemoryLimitBytes (reserve): healthy webhooks' deliveries bring memory back
// (back-pressure); every SpillWait the chunks of slow webhooks move to the durable queue,
// so the slot never waits on a dead endpoint; chunks still being filled are sealed when
// nothing else could bring memory back. The time it waits is counted in
// walhook_reader_backpressure_seconds_total as it passes. It returns ctx's error, or
// ErrClosed.
func (s *Sender) Add(ctx context.Context, m matcher.Match) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if m.Event != s.lastEv {
		// Drop the reader's reference on the previous event before waiting: an event
		// larger than the whole limit would otherwise hold memory over it for good, and
		// the wait would never end. Further matches of the same event do not wait: its
		// memory is charged already and they add matchBytes each — waiting on memory
		// that the event itself holds could not end either.
		s.dropLastShare()
		if err := s.reserve(ctx); err != nil {
			return err
		}
	}
	t := s.cur
	if t == nil {
		t = newTxnRef(s.ack)
		s.cur = t
	}
	h := s.hookFor(m.Webhook)
	if h == nil {
		return ErrClosed
	}
	if h.touchedBy != t {
		h.touchedBy = t
		s.touched = append(s.touched, h)
	}
	sh := s.shareOf(m.Event)
	s.charge(matchBytes)
	h.add(m, t, laneOf(m.Event, s.cfg.Concurrency), sh, matchBytes, time.Now())
	return nil
}

// shareOf returns the memory share of ev, charging the event's size when it is new: the
// matches of one event come one after another, so an event matched by several webhooks
// is charged once. Add has dropped the reader's reference on the previous event's share
// by then.
func (s *Sender) shareOf(ev *event.Event) *share {
	if ev == s.lastEv {
		return s.lastShare
	}
	if len(s.slab) == 0 {
		s.slab = make([]share, 256)
	}
	sh := &s.slab[0]
	s.slab = s.slab[1:]
	sh.size = eventSize(ev)
	sh.refs.Store(1) // the reader's, until the next event
	s.charge(sh.size)
	s.lastEv, s.lastShare = ev, sh
	return sh
}

// dropLastShare drops the reader's reference on the last event's share.
func (s *Sender) dropLastShare() {
	if s.lastShare != nil {
		s.lastShare.drop(s)
	}
	s.lastEv, s.lastShare = nil, nil
}

// Commit closes the transaction whose events Add received since the last Commit. Its
// end LSN is acknowledged once all its chunks are delivered or durably queued, or at once
// when it matched nothing. It does not block.
func (s *Sender) Commit(ctx context.Context, txn event.Txn) error {
	if s.closed.Load() {
		return ErrClosed
	}
	t := s.cur
	s.cur = nil
	s.dropLastShare()
	now := time.Now()
	for _, h := range s.touched {
		h.commit(now)
	}
	clear(s.touched)
	s.touched = s.touched[:0]
	if t == nil {
		s.ack(txn.EndLSN)
		return nil
	}
	t.end = txn.EndLSN
	t.release()
	return nil
}

// reserve waits while memory is over the limit (see Add).
func (s *Sender) reserve(ctx context.Context) error {
	if s.mem.Load() < s.cfg.MemoryLimitBytes {
		return nil
	}
	// The wait is counted at every wake (at least every SpillWait), not only at its end: a
	// long stall shows while it lasts.
	held := time.Now()
	count := func() {
		now := time.Now()
		s.met.readerHeld.Add(now.Sub(held).Seconds())
		held = now
	}
	defer count()
	t := time.NewTimer(s.cfg.SpillWait)
	defer t.Stop()
	freed := false   // memory came back since the timer was last set
	flushed := false // open chunks were sealed since memory last came back
	for s.mem.Load() >= s.cfg.MemoryLimitBytes {
		if !flushed && s.sealedChunks.Load() == 0 {
			// Every byte is in open chunks (or the reader's last event): nothing is on its
			// way to being delivered or queued, so waiting for the timer would free
			// nothing. Many filtered webhooks of one transaction, each chunk filling
			// slowly, stalled the reader a SpillWait at every fill of the budget (issue
			// 16's fanout). Seal them now; once until memory comes back, so a flush that
			// seals nothing does not spin.
			s.requestSpill(time.Now(), true)
			flushed = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return ErrClosed
		case <-s.memFreed:
			freed, flushed = true, false
		case <-t.C:
			s.requestSpill(time.Now(), !freed)
			freed = false
			t.Reset(s.cfg.SpillWait)
		}
		count()
	}
	return nil
}

// requestSpill asks the loops of slow webhooks (a first attempt in flight for longer than
// SlowAfter, or an open breaker) to move their in-memory chunks to the queue. Healthy
// webhooks keep theirs: the reader waits for them (back-pressure), which costs no
// database writes. With flush — when no memory came back for a whole SpillWait, or at
// once when no chunk is sealed and unresolved, so that nothing could bring memory back —
// every loop is also asked to seal its open chunks, even in the middle of a transaction: chunks
// still being filled may hold the memory the reader waits for, and only sealed ones are
// sent. While deliveries still free memory it does not: sealing every webhook's open
// chunk each SpillWait cut 1,000 webhooks' chunks of 100 into 66,843 requests of 15
// items on average (issue 16's fanout).
func (s *Sender) requestSpill(now time.Time, flush bool) {
	s.mu.Lock()
	hooks := make([]*hook, 0, len(s.hooks))
	slow := make([]bool, 0, len(s.hooks))
	for _, h := range s.hooks {
		e, ok := s.breakers[h.id]
		hooks = append(hooks, h)
		slow = append(slow, h.slow(now, s.cfg.SlowAfter) || ok && e.b.isOpen(now))
	}
	s.mu.Unlock()
	for i, h := range hooks {
		if !flush && !slow[i] {
			continue
		}
		h.mu.Lock()
		h.flush = h.flush || flush
		if slow[i] {
			h.spill = true
		}
		h.mu.Unlock()
		h.signal()
	}
}

// short reports whether in-flight memory is at or over the limit.
func (s *Sender) short() bool { return s.mem.Load() >= s.cfg.MemoryLimitBytes }

// sealed counts chunks sealed and not yet resolved (see memory). When the last one
// resolves it wakes an Add waiting for memory, as release does: a chunk releases its
// memory before it is uncounted, and a reader woken by the release may have found it
// still counted and gone back to waiting — now it seals the open chunks (reserve).
func (s *Sender) sealed(n int64) {
	if s.sealedChunks.Add(n) == 0 {
		select {
		case s.memFreed <- struct{}{}:
		default:
		}
	}
}

// charge accounts for n more bytes in memory.
func (s *Sender) charge(n int64) { s.mem.Add(n) }

// release returns n bytes charged before and wakes an Add waiting for memory.
func (s *Sender) release(n int64) {
	s.mem.Add(-n)
	select {
	case s.memFreed <- struct{}{}:
	default:
	}
}

// hookFor returns the webhook's loop for Add, starting it when none runs; nil once
// closed. It claims the loop for the reader's current transaction (midTxn) under s.mu,
// the lock detach holds, so the loop cannot retire between hookFor and the Commit that
// follows: either detach ran first and a new loop starts here, or detach sees the claim
// and refuses.
func (s *Sender) hookFor(wh *matcher.Webhook) *hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[wh.ID]
	if !ok {
		if s.closed.Load() {
			return nil
		}
		h = newHook(s.deps, wh)
		s.hooks[wh.ID] = h
		s.loops.Add(1)
		s.wg.Go(func() {
			defer s.loops.Add(-1)
			h.run(s.ctx)
		})
	}
	h.mu.Lock()
	h.midTxn = true
	h.mu.Unlock()
	return h
}

// detach removes a loop that has been idle for HookIdleTimeout from the sender, with its
// breaker when that holds nothing back, and reports whether it did: then the loop must
// end. Only the loop itself calls it, after checking its own state (nothing pending or
// in flight, nothing queued, schedule caught up); detach checks, under s.mu and h.mu, what
// the reader may change (open and sealed chunks, midTxn). Holding s.mu makes it atomic
// with respect to hookFor, so no event reaches a detached loop.
func (s *Sender) detach(h *hook, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.mu.Lock()
	quiet := h.quietLocked()
	h.mu.Unlock()
	if !quiet {
		return false
	}
	if s.hooks[h.id] == h {
		delete(s.hooks, h.id)
	}
	s.pruneBreakerLocked(h.id, now)
	return true
}

// localHook returns the webhook's loop if this process runs one.
func (s *Sender) localHook(id string) *hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks[id]
}

// breakerSlot is a webhook's circuit breaker and when it was last asked for.
type breakerSlot struct {
	b    *breaker
	used time.Time
}

// breakerFor returns the webhook's circuit breaker and notes its use, which keeps it
// from being pruned for HookIdleTimeout.
func (s *Sender) breakerFor(id string) *breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.breakers[id]
	if !ok {
		e = &breakerSlot{b: &breaker{threshold: s.cfg.BreakerThreshold, base: s.cfg.BreakerCooldown, max: s.cfg.RetryMaxBackoff}}
		s.breakers[id] = e
	}
	e.used = time.Now()
	return e.b
}

// pruneBreakerLocked forgets the webhook's breaker when no loop of the webhook runs
// here, nobody asked for it within HookIdleTimeout, and it holds nothing back (an open
// breaker is kept for its cooldown). A breaker pruned while an attempt still holds it
// (only possible when HookIdleTimeout is shorter than an attempt) loses that attempt's
// result: the next one starts a fresh count. Call it holding s.mu.
func (s *Sender) pruneBreakerLocked(id string, now time.Time) {
	e, ok := s.breakers[id]
	if !ok || s.hooks[id] != nil || now.Sub(e.used) < s.cfg.HookIdleTimeout || e.b.isOpen(now) {
		return
	}
	delete(s.breakers, id)
}

// pruneBreakers forgets idle breakers (see pruneBreakerLocked), including those of
// webhooks that only the durable queue's workers used here.
func (s *Sender) pruneBreakers(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.breakers {
		s.pruneBreakerLocked(id, now)
	}
}

// openBreakers returns the ids of webhooks whose breaker holds attempts back now.
func (s *Sender) openBreakers(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, e := range s.breakers {
		if e.b.isOpen(now) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *Sender) countOpenBreakers() float64 { return float64(len(s.openBreakers(time.Now()))) }

// signalQueue wakes an idle queue worker.
func (s *Sender) signalQueue() {
	select {
	case s.queueWake <- struct{}{}:
	default:
	}
}

// Run delivers chunks from the durable queue with QueueWorkers workers, writes the
// delivery log, prunes it and dead letters past their retention, and refreshes the queue
// depth gauge. Every walhook instance runs it: workers claim chunks with FOR UPDATE SKIP
// LOCKED, so instances share the work. It blocks until ctx ends or Close is called and
// returns nil then; errors of the state database are logged and retried.
func (s *Sender) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.running {
		s.mu.Unlock()
		return errors.New("sender: Run called twice")
	}
	s.running = true
	s.runDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.runDone)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	var wg sync.WaitGroup
	for range s.cfg.QueueWorkers {
		wg.Go(func() { s.worker(ctx) })
	}
	wg.Go(func() { s.logw.run(ctx, s.st, s.log) })
	s.maintain(ctx)
	wg.Wait()
	return nil
}

// Close stops the sender: Add and Commit fail from then on, webhook loops, attempts and
// Run stop, and the delivery log is flushed. Chunks still in memory are not acknowledged,
// so the replication slot raises their events again after a restart. It waits for all of
// that until ctx ends and returns ctx's error if it ends first.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed.Store(true)
	runDone := s.runDone
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		if runDone != nil {
			<-runDone
		}
		close(done)
	}()
	defer s.clients.closeIdle()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close sender: %w", ctx.Err())
	}
}
