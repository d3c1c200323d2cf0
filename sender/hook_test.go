package sender

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/ratelog"
	"github.com/walhook/walhook/matcher"
)

// The tests here drive one send loop alone, under testing/synctest, through fakes of its
// own seams (loopDeps): the queue, memory accounting, the attempt. The queue's real
// behaviour is tested against PostgreSQL elsewhere; these pin the loop's policy with a
// fake clock — chunk_delay spacing, queueing on failure, retirement — exactly.

// fakeQueue is an in-memory laneQueue.
type fakeQueue struct {
	mu   sync.Mutex
	rows []qrow
	busy map[int]bool // lanes reported as holding pending chunks
}

func (q *fakeQueue) busyLanes(context.Context, string) ([]int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []int
	for l, b := range q.busy {
		if b {
			out = append(out, l)
		}
	}
	return out, nil
}

func (q *fakeQueue) laneBusy(_ context.Context, l laneKey) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.busy[l.lane], nil
}

func (q *fakeQueue) enqueue(_ context.Context, rows []qrow) ([]int64, []bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids, heads := make([]int64, len(rows)), make([]bool, len(rows))
	for i, r := range rows {
		q.rows = append(q.rows, r)
		ids[i] = int64(len(q.rows))
		heads[i] = !q.busy[r.lane]
		q.busy[r.lane] = true
	}
	return ids, heads, nil
}

// fakeMemory counts charged bytes.
type fakeMemory struct{ n atomic.Int64 }

func (m *fakeMemory) charge(n int64)  { m.n.Add(n) }
func (m *fakeMemory) release(n int64) { m.n.Add(-n) }
func (m *fakeMemory) short() bool     { return false }
func (m *fakeMemory) sealed(int64)    {}

// sent is one attempt the loop made.
type sent struct {
	at         time.Time
	deliveryID string
	items      int
}

// loopEnv is one send loop with fakes for its dependencies.
type loopEnv struct {
	h     *hook
	d     *loopDeps
	q     *fakeQueue
	mem   *fakeMemory
	wh    *matcher.Webhook
	acked atomic.Int64 // acknowledged transactions

	mu       sync.Mutex
	sent     []sent
	detached []time.Time
	queued   int // queued() calls
}

// newLoopEnv starts a loop for wh whose attempts answer result (by attempt number, from
// 1), after applying opts to its dependencies; the loop ends with the test. Call it
// inside a synctest bubble.
func newLoopEnv(t *testing.T, wh *matcher.Webhook, result func(n int) attemptResult, opts ...func(*loopDeps)) *loopEnv {
	t.Helper()
	e := &loopEnv{q: &fakeQueue{busy: map[int]bool{}}, mem: &fakeMemory{}, wh: wh}
	cfg := testConfig()
	cfg.Registerer = nil
	cfg = cfg.withDefaults()
	e.d = &loopDeps{
		cfg:     cfg,
		log:     slog.New(slog.DiscardHandler),
		errLog:  ratelog.New(time.Minute),
		met:     newMetrics(nil, nil, nil),
		policy:  backoff{min: time.Second, max: time.Second, window: time.Hour},
		render:  itemRenderer{},
		formats: defaultFormats(),
		queue:   e.q,
		mem:     e.mem,
		breakers: func(string) *breaker {
			return &breaker{threshold: 100, base: time.Minute, max: time.Minute}
		},
		attempt: func(_ context.Context, _ *matcher.Webhook, id string, body []byte, _ string, _, items int) attemptResult {
			e.mu.Lock()
			e.sent = append(e.sent, sent{at: time.Now(), deliveryID: id, items: items})
			n := len(e.sent)
			e.mu.Unlock()
			if !json.Valid(body) {
				t.Errorf("attempt %d: body is not JSON: %s", n, body)
			}
			return result(n)
		},
		settleRow: func(context.Context, rowRef, *matcher.Webhook, attemptResult, time.Time) {
			t.Error("settleRow called: no chunk was queued while in flight")
		},
		detach: func(h *hook, now time.Time) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.detached = append(e.detached, now)
			return true
		},
		queued: func() {
			e.mu.Lock()
			e.queued++
			e.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(e.d)
	}
	e.h = newHook(e.d, wh)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return e
}

// feed hands the loop a transaction's events as Sender.Add and Commit do.
func (e *loopEnv) feed(evs []*event.Event) {
	t := newTxnRef(func(event.LSN) { e.acked.Add(1) })
	for _, ev := range evs {
		size := eventSize(ev)
		e.mem.charge(size)
		e.h.add(matcher.Match{Webhook: e.wh, Event: ev}, t, 0, nil, size, time.Now())
	}
	e.h.commit(time.Now())
	t.release()
}

func (e *loopEnv) attempts() []sent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sent(nil), e.sent...)
}

func ok(int) attemptResult { return attemptResult{v: verdict{Outcome: OutcomeDelivered}, status: 200} }

// TestLoopSpacesChunksByChunkDelay: chunk N of a burst is sent N × chunk_delay after chunk
// 0, each with its delivery id; the transaction is acknowledged and its memory returned
// once the last is delivered; then the loop retires after exactly HookIdleTimeout.
func TestLoopSpacesChunksByChunkDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wh := newWebhook("http://example.invalid")
		wh.ChunkSize, wh.ChunkDelay = 2, 100*time.Millisecond
		e := newLoopEnv(t, wh, ok)
		start := time.Now()
		var g gen
		evs, _ := g.txn(5, oneEach)
		e.feed(evs)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()

		var got []sent
		for _, s := range e.attempts() {
			got = append(got, sent{at: s.at, deliveryID: s.deliveryID, items: s.items})
		}
		want := []sent{
			{start, deliveryID(wh.ID, evs[0].ID, evs[1].ID).String(), 2},
			{start.Add(100 * time.Millisecond), deliveryID(wh.ID, evs[2].ID, evs[3].ID).String(), 2},
			{start.Add(200 * time.Millisecond), deliveryID(wh.ID, evs[4].ID, evs[4].ID).String(), 1},
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(sent{})); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if n := e.acked.Load(); n != 1 {
			t.Errorf("%d transactions acknowledged, want 1", n)
		}
		if n := e.mem.n.Load(); n != 0 {
			t.Errorf("%d bytes still charged, want 0", n)
		}

		time.Sleep(e.d.cfg.HookIdleTimeout)
		synctest.Wait()
		e.mu.Lock()
		detached := e.detached
		e.mu.Unlock()
		if want := start.Add(200*time.Millisecond + e.d.cfg.HookIdleTimeout); len(detached) != 1 || !detached[0].Equal(want) {
			t.Errorf("detached at %v, want once at %v (idle timeout after the last send)", detached, want)
		}
	})
}

// TestLoopQueuesFailedChunkAndItsLane: a failed first attempt puts the chunk in the queue
// as its lane's head, due by the retry policy, with the lane's later chunks behind it and
// none of them attempted; the transaction is acknowledged once they are queued.
func TestLoopQueuesFailedChunkAndItsLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wh := newWebhook("http://example.invalid")
		wh.ChunkSize, wh.ChunkDelay = 1, 10*time.Millisecond
		e := newLoopEnv(t, wh, func(int) attemptResult {
			return attemptResult{v: verdict{Outcome: OutcomeHTTPError}, status: 503, errText: "HTTP 503"}
		})
		start := time.Now()
		var g gen
		evs, _ := g.txn(3, oneEach)
		e.feed(evs)
		synctest.Wait()

		if n := len(e.attempts()); n != 1 {
			t.Errorf("%d attempts, want 1: later chunks wait behind the failed one", n)
		}
		e.q.mu.Lock()
		rows := append([]qrow(nil), e.q.rows...)
		e.q.mu.Unlock()
		if len(rows) != 3 {
			t.Fatalf("%d rows queued, want 3", len(rows))
		}
		if r := rows[0]; r.attempt != 1 || r.lastStatus != 503 || !r.firstFailed.Equal(start) || r.next.Before(start) || r.next.After(start.Add(time.Second)) {
			t.Errorf("head row: attempt %d, status %d, first failed %v, next %v; want 1, 503, %v, within the 1s backoff",
				r.attempt, r.lastStatus, r.firstFailed, r.next, start)
		}
		for i, r := range rows[1:] {
			if r.attempt != 0 || !r.dueAt.Equal(start.Add(time.Duration(i+1)*10*time.Millisecond)) {
				t.Errorf("row %d: attempt %d, due %v; want untried, due at its chunk_delay time", i+1, r.attempt, r.dueAt)
			}
		}
		if n := e.acked.Load(); n != 1 {
			t.Errorf("%d transactions acknowledged, want 1 (queued counts)", n)
		}
		if n := e.mem.n.Load(); n != 0 {
			t.Errorf("%d bytes still charged, want 0", n)
		}
		if got := testutil.ToFloat64(e.d.met.queued.WithLabelValues(reasonFailed)); got != 1 {
			t.Errorf("queued{reason=failed} = %v, want 1", got)
		}
	})
}

// TestLoopWithFormat: a webhook's format decides the requests; the loop is unchanged.
func TestLoopWithFormat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wh := newWebhook("http://example.invalid")
		wh.Format = "test-event-per-request"
		e := newLoopEnv(t, wh, ok, func(d *loopDeps) {
			d.formats = formats{"": pipelinerChunk{}, wh.Format: eventPerRequest{}}
		})
		var g gen
		evs, _ := g.txn(3, oneEach)
		e.feed(evs)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		var ids []string
		for _, s := range e.attempts() {
			ids = append(ids, s.deliveryID)
		}
		var want []string
		for _, ev := range evs {
			want = append(want, deliveryID(wh.ID, ev.ID, ev.ID).String())
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("delivery ids (-want +got):\n%s", diff)
		}
		if n := e.acked.Load(); n != 1 {
			t.Errorf("%d transactions acknowledged, want 1", n)
		}
	})
}

// TestLoopStaysWhileChunkDelayRuns: a loop quiet for longer than HookIdleTimeout does not
// retire before its chunk_delay schedule has caught up (a new loop would send the next
// chunk at once); a chunk formed meanwhile goes to the queue, due at its schedule time.
func TestLoopStaysWhileChunkDelayRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wh := newWebhook("http://example.invalid")
		wh.ChunkDelay = time.Hour
		e := newLoopEnv(t, wh, ok, func(d *loopDeps) { d.cfg.HookIdleTimeout = 10 * time.Millisecond })
		start := time.Now()
		var g gen
		evs, _ := g.txn(1, oneEach)
		e.feed(evs)
		time.Sleep(30 * time.Minute)
		evs, _ = g.txn(1, oneEach)
		e.feed(evs)
		time.Sleep(time.Second) // its linger ends
		synctest.Wait()
		e.mu.Lock()
		detached := len(e.detached)
		e.mu.Unlock()
		if n := len(e.attempts()); n != 1 || detached != 0 {
			t.Errorf("%d attempts, %d detaches half an hour in; want 1 and none", n, detached)
		}
		e.q.mu.Lock()
		rows := append([]qrow(nil), e.q.rows...)
		e.q.mu.Unlock()
		// The first chunk was sealed, and due, when its linger ended.
		if want := start.Add(e.d.cfg.Linger + time.Hour); len(rows) != 1 || !rows[0].dueAt.Equal(want) {
			var due []time.Time
			for _, r := range rows {
				due = append(due, r.dueAt)
			}
			t.Errorf("queued chunks due %v; want one due at %v, an hour after the first", due, want)
		}
	})
}
