package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walhook/walhook/matcher"
)

// leaseMargin is added to the request timeout for the lease of a chunk whose attempt is
// in flight while it is written to the queue: the attempt ends (and settles the row)
// well before anyone else may claim it.
const leaseMargin = 30 * time.Second

// hook is one webhook's send loop (STYLE 18): the reader goroutine fills chunks under mu
// and wakes the loop through a coalescing channel; the loop seals lingering chunks,
// renders them, spaces them by chunk_delay and sends each lane's chunks one at a time,
// in order. A lane that has chunks in the durable queue is parked: its later chunks go
// to the queue behind them, until the queue has none left for it. A loop left with
// nothing to do for HookIdleTimeout retires (see retire), so webhooks that are deleted,
// disabled or no longer matched cost nothing. The loop reaches nothing of its owner: what
// it needs is injected (loopDeps), so it is tested alone with fakes (hook_test.go).
type hook struct {
	d        *loopDeps
	id       string
	wake     chan struct{}
	results  chan attemptDone
	attempts sync.WaitGroup // first attempts in flight; run waits for them

	mu      sync.Mutex
	wh      *matcher.Webhook     // as last seen by Add
	sub     matcher.Subscription // wh compiled, as last seen by Add: chunks render with it
	open    []*chunk             // per lane: being filled
	sealed  []*chunk             // sealed, not yet taken by the loop
	midTxn  bool                 // the reader's current transaction touched the webhook (set by hookFor, cleared by commit)
	spill   bool                 // memory is short: move everything to the queue
	flush   bool                 // memory is short: seal open chunks, even mid-transaction
	recheck bool                 // a worker settled a queued chunk: parked lanes may be empty now

	touchedBy *txnRef // reader goroutine only: the last transaction that touched the hook

	// oldest is when the oldest first attempt in flight started, unix nanoseconds, 0 when
	// none: the loop sets it after each step, the reader reads it to tell a slow webhook
	// (its endpoint takes longer than SlowAfter to answer) from a healthy one.
	oldest atomic.Int64
	// steps counts the loop's rounds (tests check that it does not spin).
	steps atomic.Int64

	slotFlags // its place in line for a render slot (renderSlots)

	// Loop goroutine only.
	lanes []laneState
	sched schedule
	// gone is the webhook as last seen by Add when one of its attempts answered 410 Gone
	// and disabled it: until Add brings another version (the matcher reloaded it,
	// disabled, or resumed), its chunks are held although it looks active.
	gone *matcher.Webhook
}

// laneState is one ordering lane of a webhook, as its loop sees it.
type laneState struct {
	pending  []*chunk // rendered, in order, not yet sent
	inflight *chunk   // the chunk whose first attempt runs
	parked   bool     // the queue holds chunks of this lane: later ones go behind them
	checkAt  time.Time
}

// attemptDone is a first attempt's result, reported to the loop.
type attemptDone struct {
	c   *chunk
	res attemptResult
}

func newHook(d *loopDeps, wh *matcher.Webhook) *hook {
	n := d.cfg.Concurrency
	return &hook{
		d: d, id: wh.ID, wh: wh,
		wake:    make(chan struct{}, 1),
		results: make(chan attemptDone, n),
		open:    make([]*chunk, n),
		lanes:   make([]laneState, n),
	}
}

func (h *hook) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// add puts an event in its lane's open chunk, with a reference on sh (the event's
// memory, nil when size counts it) and size bytes charged to the chunk; a full chunk is
// sealed at once.
func (h *hook) add(m matcher.Match, t *txnRef, lane int, sh *share, size int64, now time.Time) {
	h.mu.Lock()
	h.wh, h.sub = m.Webhook, m.Sub
	h.midTxn = true
	c := h.open[lane]
	if c == nil {
		c = &chunk{lane: lane, opened: now}
		h.open[lane] = c
	}
	c.addEvent(m.Event, t, sh, size)
	full := len(c.events) >= chunkSize(m.Webhook)
	if full {
		h.sealLocked(c, now)
	}
	h.mu.Unlock()
	if full {
		h.signal()
	}
}

func (h *hook) sealLocked(c *chunk, now time.Time) {
	c.formed = now
	c.wh, c.sub = h.wh, h.sub
	h.open[c.lane] = nil
	h.sealed = append(h.sealed, c)
	h.d.mem.sealed(1)
}

// commit notes a transaction boundary: open chunks whose linger is over are sealed.
func (h *hook) commit(now time.Time) {
	h.mu.Lock()
	h.midTxn = false
	for _, c := range h.open {
		if c != nil && !now.Before(c.opened.Add(h.d.cfg.Linger)) {
			h.sealLocked(c, now)
		}
	}
	h.mu.Unlock()
	h.signal()
}

// take collects the loop's input: sealed chunks, plus open chunks whose linger is over
// (only between transactions, so a transaction's events stay together) or every open
// chunk when a spill was requested. lingerAt is the earliest linger end still pending.
func (h *hook) take(now time.Time) (batch []*chunk, spill, recheck bool, lingerAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	spill, recheck = h.spill, h.recheck
	flush := spill || h.flush
	h.spill, h.recheck, h.flush = false, false, false
	for _, c := range h.open {
		if c == nil {
			continue
		}
		at := c.opened.Add(h.d.cfg.Linger)
		switch {
		case flush || (!h.midTxn && !now.Before(at)):
			h.sealLocked(c, now)
		case !h.midTxn:
			lingerAt = earliest(lingerAt, at)
		}
	}
	batch, h.sealed = h.sealed, nil
	return batch, spill, recheck, lingerAt
}

// earliest returns the earlier of two times, a zero time meaning "none".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// run is the loop. It ends when ctx does; chunks still in memory are then left
// unacknowledged, for the slot to raise again. It also ends when it retires, after
// HookIdleTimeout with nothing to do.
func (h *hook) run(ctx context.Context) {
	defer h.attempts.Wait()
	if h.d.slots != nil {
		defer h.d.slots.leave(h)
	}
	if !h.loadLanes(ctx) {
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var idleSince time.Time // zero: busy
	for {
		next := h.step(ctx)
		if ctx.Err() != nil {
			return
		}
		at, retired := h.idle(ctx, &idleSince)
		if retired {
			return
		}
		next = earliest(next, at)
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case d := <-h.results:
			h.settle(ctx, d)
		case <-timer.C:
		}
	}
}

// idle tracks since when the loop has had nothing to do and retires it once it may. It
// returns when to look again (zero: when woken) and whether the loop retired. Loop
// goroutine only.
func (h *hook) idle(ctx context.Context, since *time.Time) (at time.Time, retired bool) {
	now := time.Now()
	if !h.quiet() {
		*since = time.Time{}
		return time.Time{}, false
	}
	if since.IsZero() {
		*since = now
	}
	if at = h.retireAt(*since); now.Before(at) {
		return at, false
	}
	if h.retire(ctx, now) {
		return time.Time{}, true
	}
	// Look again after another timeout, and no sooner than the queue poll.
	*since = now
	at = h.retireAt(now)
	if poll := now.Add(h.d.cfg.QueuePollInterval); at.Before(poll) {
		at = poll
	}
	return at, false
}

// quiet reports whether the loop has nothing to do: no chunk open, sealed, pending or in
// flight, and the reader is not inside a transaction that touched the webhook. Loop
// goroutine only.
func (h *hook) quiet() bool {
	for i := range h.lanes {
		if len(h.lanes[i].pending) > 0 || h.lanes[i].inflight != nil {
			return false
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quietLocked()
}

// quietLocked is the part of quiet that the reader may change. Call it holding h.mu.
func (h *hook) quietLocked() bool {
	if h.midTxn || len(h.sealed) > 0 {
		return false
	}
	for _, c := range h.open {
		if c != nil {
			return false
		}
	}
	return true
}

// retireAt returns when a loop quiet since idleSince may retire: after HookIdleTimeout,
// and not before its chunk_delay schedule has caught up, since a new loop would start a
// fresh burst and send the next chunk early.
func (h *hook) retireAt(idleSince time.Time) time.Time {
	at := idleSince.Add(h.d.cfg.HookIdleTimeout)
	if h.sched.next.After(at) {
		return h.sched.next
	}
	return at
}

// retire ends the loop of a quiet webhook when the durable queue holds none of its
// chunks either (without a webhook store, the queue's workers send them with the webhook
// as this loop last saw it), and reports whether it did; the loop must then return. The
// queue is read first, without locks: in this process only this loop queues the
// webhook's chunks. Then detach re-checks, under the sender's lock, what the reader may
// have changed meanwhile. Loop goroutine only, with quiet true.
func (h *hook) retire(ctx context.Context, now time.Time) bool {
	lanes, err := h.d.queue.busyLanes(ctx, h.id)
	if err != nil {
		if ctx.Err() == nil {
			h.d.errLog.Warn(h.d.log, "retire/"+h.id, "check queued chunks of an idle webhook", "webhook_id", h.id, "err", err)
		}
		return false
	}
	if len(lanes) > 0 {
		return false
	}
	for i := range h.lanes {
		h.lanes[i].parked = false // the queue holds none of its chunks
	}
	return h.d.detach(h, now)
}

// loadLanes parks the lanes that have chunks in the durable queue (from before a
// restart, or another instance), before anything of the webhook is sent.
func (h *hook) loadLanes(ctx context.Context) bool {
	for attempt := 1; ; attempt++ {
		lanes, err := h.d.queue.busyLanes(ctx, h.id)
		if err == nil {
			for _, i := range lanes {
				if i >= 0 && i < len(h.lanes) { // not the redelivery lane
					h.lanes[i].parked = true
				}
			}
			return true
		}
		h.d.errLog.Warn(h.d.log, "load-lanes/"+h.id, "read queued lanes; retrying", "webhook_id", h.id, "err", err)
		if !sleepCtx(ctx, dbBackoff.wait(attempt)) {
			return false
		}
	}
}

// step does one round of work and returns when the loop must look again (zero: when
// woken).
func (h *hook) step(ctx context.Context) time.Time {
	h.steps.Add(1)
	batch, spill, recheck, next := h.take(time.Now())
	var deferred []bool
	if !spill {
		// Render only a few chunks ahead of what is sent: a backlog rendered all at once
		// doubles its memory (bodies beside events) and delays the first request.
		var took bool
		batch, deferred, took = h.renderAhead(batch)
		if h.d.slots != nil {
			h.d.slots.pass(h, took)
		}
	}
	for _, c := range batch {
		parts, ok := h.prepare(ctx, c)
		if !ok {
			return time.Time{}
		}
		if parts == nil {
			parts = []*chunk{c}
		}
		for _, p := range parts {
			if !spill && !h.lanes[c.lane].parked {
				p.sig = presign(p.wh, p.body) // while the lane's previous chunk is in flight
			}
			h.lanes[c.lane].pending = append(h.lanes[c.lane].pending, p)
		}
	}
	for i := range h.lanes {
		if recheck {
			h.lanes[i].checkAt = time.Time{}
		}
		next = earliest(next, h.dispatch(ctx, i, time.Now(), spill))
	}
	h.noteOldest()
	if deferred != nil {
		// A lane with chunks put back that has room again (its chunks went to the queue,
		// or were sent) must not wait for an event that may never come. One without room
		// is woken by its attempt's result: waking it now would spin.
		// A loop in line for a render slot is woken by the line.
		short, held := h.d.mem.short(), h.held()
		inLine := short && !held && h.d.slots != nil && h.slotWaiting.Load()
		for i, d := range deferred {
			if d && h.laneRoom(i, short, held) > 0 && !(inLine && !h.lanes[i].parked) {
				h.signal()
				break
			}
		}
	}
	return next
}

// renderAheadChunks is how many rendered chunks per lane may wait for their turn.
const renderAheadChunks = 2

// renderAhead returns the chunks of batch to render now, those of lanes with room; the
// others go back to the front of the sealed chunks, in order within each lane, for a later
// step, and deferred marks their lanes (nil when none): the loop steps again when such a
// lane has room, or when an attempt ends. At the memory limit a lane renders only with a
// render slot (renderSlots), which its chunk holds; took reports whether one was taken.
func (h *hook) renderAhead(batch []*chunk) (now []*chunk, deferred []bool, took bool) {
	short, held := h.d.mem.short(), h.held()
	room := make([]int, len(h.lanes))
	for i := range h.lanes {
		room[i] = h.laneRoom(i, short, held)
	}
	needSlot := short && !held && h.d.slots != nil
	var rest []*chunk
	now = batch[:0:0]
	for _, c := range batch {
		if room[c.lane] > 0 && needSlot && !h.lanes[c.lane].parked {
			if h.d.slots.take(h) {
				c.slot, took = h.d.slots, true
			} else {
				room[c.lane] = 0
			}
		}
		if room[c.lane] <= 0 {
			if deferred == nil {
				deferred = make([]bool, len(h.lanes))
			}
			deferred[c.lane] = true
			rest = append(rest, c)
			continue
		}
		room[c.lane]--
		now = append(now, c)
	}
	if len(rest) > 0 {
		h.mu.Lock()
		h.sealed = append(rest, h.sealed...)
		h.mu.Unlock()
	}
	return now, deferred, took
}

// laneRoom is how many more chunks lane i may have rendered now: renderAheadChunks
// ahead of what is sent; at the memory limit (short) one, and only when nothing else of
// the lane is in memory, so bodies never add more than a chunk per lane beyond the limit
// and the lane still moves. Parked and held lanes queue what they render at once, which
// frees memory: they keep their render-ahead.
func (h *hook) laneRoom(i int, short, held bool) int {
	l := &h.lanes[i]
	if short && !l.parked && !held {
		if len(l.pending) == 0 && l.inflight == nil {
			return 1
		}
		return 0
	}
	return renderAheadChunks - len(l.pending)
}

// noteOldest publishes when the oldest first attempt in flight started (see oldest).
// Chunks waiting for their turn do not count: with many webhooks at the memory limit they
// wait for render slots and for each other, not for their endpoint, and counting them
// from when they were formed made healthy webhooks look slow and spill (issue 16's
// fanout: 758 chunks spilled and 12,765 queued behind them).
func (h *hook) noteOldest() {
	var oldest int64
	for i := range h.lanes {
		if c := h.lanes[i].inflight; c != nil && !c.resolved && (oldest == 0 || c.started.UnixNano() < oldest) {
			oldest = c.started.UnixNano()
		}
	}
	h.oldest.Store(oldest)
}

// slow reports whether a first attempt of the webhook has been in flight for more than
// after: its endpoint is slow or failing, and its chunks may go to the queue to free
// memory.
func (h *hook) slow(now time.Time, after time.Duration) bool {
	o := h.oldest.Load()
	return o != 0 && now.Sub(time.Unix(0, o)) > after
}

// prepare schedules a sealed chunk by chunk_delay, derives its delivery id and renders
// its body. It retries rendering until it succeeds or ctx ends (false). A chunk whose
// body would pass MaxBodyBytes is split (pack): parts holds the requests that replace it,
// nil when it is sent whole.
func (h *hook) prepare(ctx context.Context, c *chunk) (parts []*chunk, ok bool) {
	c.due = h.sched.due(c.formed, c.wh.ChunkDelay)
	c.id = deliveryID(h.id, c.events[0].ID, c.events[len(c.events)-1].ID)
	buf := renderBufs.Get().(*[]byte)
	defer putRenderBuf(buf)
	for attempt := 1; ; attempt++ {
		items, b, err := h.d.render.RenderAppend(ctx, *buf, c.sub, c.events)
		*buf = b
		if err == nil && len(items) != len(c.events) {
			err = fmt.Errorf("renderer returned %d items for %d events", len(items), len(c.events))
		}
		if err == nil {
			return h.pack(c, items), true // pack copies the items into bodies: buf is free after it
		}
		h.d.errLog.Warn(h.d.log, "render/"+h.id, "render delivery items; retrying",
			"webhook_id", h.id, "delivery_id", c.id.String(), "err", err)
		if !sleepCtx(ctx, dbBackoff.wait(attempt)) {
			return nil, false
		}
	}
}

// renderBufs holds the buffers chunks are rendered into (*[]byte). A rendered chunk's
// items live there only until pack has copied them into request bodies, so the buffer
// serves the next chunk instead of one being allocated, and collected, per chunk.
var renderBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledRenderBuf is the largest render buffer kept for reuse: a chunk of outsized
// items does not pin its buffer.
const maxPooledRenderBuf = 1 << 20

func putRenderBuf(b *[]byte) {
	if cap(*b) <= maxPooledRenderBuf {
		renderBufs.Put(b)
	}
}

// pack encodes a rendered chunk's requests in the webhook's format. A chunk sent as one
// request gets its body and pack returns nil. Otherwise (Pipeliner's body would pass
// MaxBodyBytes; a dialect sends one event per request) the chunk is replaced by parts, in
// order, each one request with its own delivery id, derived as every chunk's from its
// first and last events, and the chunk's due time; pack returns them. Each part holds a
// reference on every transaction of the chunk, so a transaction is acknowledged only once
// all parts are delivered or queued.
func (h *hook) pack(c *chunk, items []json.RawMessage) []*chunk {
	f := h.d.formats.of(c.wh)
	limit := h.d.cfg.MaxBodyBytes
	spans, cut := f.requests(h.id, items, limit)
	if len(spans) == 1 {
		c.body = f.appendBody(nil, h.id, c.id, items)
		c.memBytes += int64(len(c.body))
		h.d.mem.charge(int64(len(c.body)))
		h.record(c)
		return nil
	}
	parts := make([]*chunk, len(spans))
	var bodies int64
	for k, sp := range spans {
		evs := c.events[sp.from:sp.to]
		p := &chunk{lane: c.lane, events: evs, txns: c.txns, opened: c.opened, formed: c.formed, wh: c.wh, sub: c.sub, due: c.due,
			id: deliveryID(h.id, evs[0].ID, evs[len(evs)-1].ID)}
		p.body = f.appendBody(nil, h.id, p.id, items[sp.from:sp.to])
		if len(p.body) > limit {
			h.d.errLog.Warn(h.d.log, "oversize/"+h.id, "delivery item larger than the body bound; sent alone",
				"webhook_id", h.id, "delivery_id", p.id.String(), "bytes", len(p.body), "max_body_bytes", limit)
		}
		p.memBytes = int64(len(p.body))
		bodies += p.memBytes
		parts[k] = p
		h.record(p)
	}
	for _, t := range c.txns {
		t.refs.Add(int64(len(parts) - 1))
	}
	h.d.mem.sealed(int64(len(parts) - 1))      // the parts resolve, c never does
	parts[len(parts)-1].memBytes += c.memBytes // the events' memory, until the last part resolves
	parts[len(parts)-1].shares = c.shares
	parts[len(parts)-1].slot = c.slot
	h.d.mem.charge(bodies)
	if cut {
		h.d.met.splits.Inc()
		h.d.met.splitParts.Add(float64(len(parts)))
	}
	return parts
}

// record hands a rendered request's record to the delivery log (see chunkRecord).
func (h *hook) record(c *chunk) {
	if h.d.record != nil {
		h.d.record(newChunkRecord(h.id, c))
	}
}

// dispatch moves lane i along: its chunks go to the queue when it is parked, when
// memory is short or the webhook's breaker is open, or when the next chunk is due beyond
// the delay horizon; otherwise the next due chunk is sent. It returns when the lane's
// next chunk falls due, if it waits in memory.
func (h *hook) dispatch(ctx context.Context, i int, now time.Time, spill bool) time.Time {
	l := &h.lanes[i]
	leasable := l.inflight != nil && !l.inflight.resolved
	if len(l.pending) == 0 && !(spill && leasable) {
		return time.Time{}
	}
	if l.parked && l.inflight == nil && !now.Before(l.checkAt) {
		busy, err := h.d.queue.laneBusy(ctx, laneKey{h.id, i})
		if err != nil {
			h.d.errLog.Warn(h.d.log, "lane/"+h.id, "check queued lane", "webhook_id", h.id, "err", err)
		} else if !busy {
			l.parked = false
		}
		l.checkAt = now.Add(h.d.cfg.QueuePollInterval)
	}
	switch {
	case l.parked:
		h.toQueue(ctx, i, reasonBehind, nil)
	case h.held():
		h.toQueue(ctx, i, reasonHeld, nil)
	case spill || h.d.breakers(h.id).isOpen(now):
		h.toQueue(ctx, i, reasonSpilled, nil)
	case l.inflight != nil:
	default:
		c := l.pending[0]
		switch {
		case c.due.After(now.Add(h.d.cfg.DelayHorizon)):
			h.toQueue(ctx, i, reasonDelayed, nil)
		case c.due.After(now):
			return c.due
		default:
			l.pending[0] = nil
			l.pending = l.pending[1:]
			l.inflight = c
			h.start(ctx, c)
		}
	}
	return time.Time{}
}

// held reports whether the webhook's chunks are to be held in the durable queue without
// an attempt: it is paused or disabled, as Add last saw it, or an attempt was answered
// 410 Gone since. Loop goroutine only.
func (h *hook) held() bool {
	h.mu.Lock()
	wh := h.wh
	h.mu.Unlock()
	return wh.Held() || (h.gone != nil && wh == h.gone)
}

// markGone notes that an attempt was answered 410 Gone, when there is a store to record
// the disable in. Loop goroutine only.
func (h *hook) markGone() {
	if h.d.disable == nil {
		return
	}
	h.mu.Lock()
	h.gone = h.wh
	h.mu.Unlock()
}

// start runs a chunk's first attempt under ctx, the loop's; the result comes back on
// h.results, which has room for one per lane, so the attempt never waits for the loop.
func (h *hook) start(ctx context.Context, c *chunk) {
	c.started = time.Now()
	h.attempts.Go(func() {
		res := h.d.attempt(ctx, c.wh, c.id.String(), c.body, c.sig, 1, len(c.events))
		h.results <- attemptDone{c: c, res: res}
	})
}

// disableGone disables the webhook, whose endpoint answered the chunk deliveryID with
// 410 Gone, and reports whether it is disabled now; never without a webhook store.
func (h *hook) disableGone(ctx context.Context, deliveryID string) bool {
	return h.d.disable != nil && h.d.disable(ctx, h.id, deliveryID)
}

// settle handles a first attempt's result.
func (h *hook) settle(ctx context.Context, d attemptDone) {
	c := d.c
	h.lanes[c.lane].inflight = nil
	if d.res.aborted {
		return
	}
	now := time.Now()
	delivered := d.res.v.Outcome == OutcomeDelivered
	if delivered {
		h.observe(c, now)
	}
	switch {
	case c.leaseID != 0:
		// Written to the queue while in flight: this attempt settles the row.
		ctx, cancel := settleContext(ctx)
		defer cancel()
		h.d.settleRow(ctx, rowRef{id: c.leaseID, claim: c.leaseClaim, deliveryID: c.id.String(), lane: laneKey{h.id, c.lane}, attempt: 1}, c.wh, d.res, now)
		if d.res.v.Gone {
			h.markGone()
		}
	case c.resolved:
	case delivered:
		c.resolve(h.d.mem)
	case d.res.v.Gone && h.disableGone(ctx, c.id.String()):
		// Disabled before the chunk is queued: no worker attempts it again. It heads its
		// lane, due at once, for when the webhook is resumed.
		h.markGone()
		h.toQueue(ctx, c.lane, reasonHeld, &failedFirst{c: c, next: now, res: d.res})
	default:
		next, _ := h.d.policy.next(now, now, 1, d.res.v.RetryAfter)
		h.d.met.retries.Inc()
		h.toQueue(ctx, c.lane, reasonFailed, &failedFirst{c: c, next: next, at: now, res: d.res})
	}
}

// observe records the commit-to-delivery latency of a delivered chunk's events.
func (h *hook) observe(c *chunk, now time.Time) {
	for _, ev := range c.events {
		h.d.met.commitLatency.Observe(now.Sub(ev.CommitTime).Seconds())
	}
}

// failedFirst is a chunk whose first attempt failed, to be queued as its lane's head.
type failedFirst struct {
	c    *chunk
	next time.Time
	at   time.Time
	res  attemptResult
}

// toQueue writes lane i's chunks to the durable queue, in order, and parks the lane:
// first a chunk whose first attempt failed (failed) or, when the lane is moved while an
// attempt is in flight, that chunk leased to the attempt; then the pending chunks. Once
// written, the chunks' transactions no longer wait for them. It retries until the write
// succeeds or ctx ends.
func (h *hook) toQueue(ctx context.Context, i int, reason string, failed *failedFirst) {
	l := &h.lanes[i]
	now := time.Now()
	rows := make([]qrow, 0, len(l.pending)+1)
	var lead *chunk
	switch {
	case failed != nil:
		lead = failed.c
		r := h.row(lead, i)
		r.next, r.attempt, r.firstFailed = failed.next, 1, failed.at
		r.lastStatus, r.lastError = failed.res.status, failed.res.errText
		rows = append(rows, r)
	case l.inflight != nil && !l.inflight.resolved:
		lead = l.inflight
		r := h.row(lead, i)
		r.next, r.attempt, r.claim = now.Add(attemptTimeout(h.d.cfg, lead.wh)+leaseMargin), 1, rand.Int64()|1
		rows = append(rows, r)
	}
	for _, c := range l.pending {
		rows = append(rows, h.row(c, i))
	}
	var ids []int64
	for attempt := 1; ; attempt++ {
		var err error
		if ids, _, err = h.d.queue.enqueue(ctx, rows); err == nil {
			break
		}
		h.d.errLog.Warn(h.d.log, "enqueue/"+h.id, "write chunks to the durable queue; retrying",
			"webhook_id", h.id, "chunks", len(rows), "err", err)
		if !sleepCtx(ctx, dbBackoff.wait(attempt)) {
			return
		}
	}
	if lead != nil {
		if failed == nil {
			lead.leaseID, lead.leaseClaim = ids[0], rows[0].claim
		}
		lead.resolve(h.d.mem)
		h.d.met.queued.WithLabelValues(reason).Inc()
		reason = reasonBehind
	}
	for k, c := range l.pending {
		c.resolve(h.d.mem)
		l.pending[k] = nil
	}
	h.d.met.queued.WithLabelValues(reason).Add(float64(len(l.pending)))
	l.pending = l.pending[:0]
	l.parked = true
	l.checkAt = now.Add(h.d.cfg.QueuePollInterval)
	h.d.queued()
}

// row returns the queue row of a chunk of lane i, due at its chunk_delay time.
func (h *hook) row(c *chunk, i int) qrow {
	return qrow{
		webhookID: h.id, deliveryID: c.id, lane: i, pos: posOf(c.events[0]), items: len(c.events),
		body: c.body, committedAt: c.committedAt(), dueAt: c.due, next: c.due,
	}
}

// dbBackoff spaces retries of state-database operations.
var dbBackoff = backoff{min: 100 * time.Millisecond, max: 10 * time.Second}

// sleepCtx waits d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
