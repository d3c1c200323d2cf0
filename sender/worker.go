package sender

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/walhook/walhook/matcher"
)

// worker delivers chunks from the durable queue until ctx ends: it claims one due lane
// head at a time (skipping webhooks whose breaker is open here), attempts it and settles
// the row.
func (s *Sender) worker(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		now := time.Now()
		cs, err := s.st.claim(ctx, 1, s.openBreakers(now), now, now.Add(s.cfg.RequestTimeout+leaseMargin), rand.Int64()|1)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			s.errLog.Warn(s.log, "claim", "claim queued chunks; retrying", "err", err)
			sleepCtx(ctx, dbBackoff.wait(failures))
			continue
		}
		failures = 0
		if len(cs) == 0 {
			t := time.NewTimer(s.cfg.QueuePollInterval)
			select {
			case <-ctx.Done():
			case <-s.queueWake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		s.signalQueue() // there may be more: let another idle worker look
		for _, c := range cs {
			s.work(ctx, c)
		}
	}
}

// work makes one attempt of a claimed chunk and settles it.
func (s *Sender) work(ctx context.Context, c claimed) {
	now := time.Now()
	lane := laneKey{c.webhookID, c.lane}
	defer s.noteLane(lane)
	wh, err := s.lookup(ctx, c.webhookID)
	switch {
	case err != nil:
		s.errLog.Warn(s.log, "lookup/"+c.webhookID, "look up webhook of queued chunk", "webhook_id", c.webhookID, "err", err)
		s.logErr(c.webhookID, s.st.release(ctx, c.id, c.claim, now.Add(s.cfg.QueuePollInterval)))
		return
	case wh == nil:
		n, err := s.st.dropWebhook(ctx, c.webhookID)
		if s.logErr(c.webhookID, err) {
			s.log.Info("dropped queued chunks of a deleted webhook", "webhook_id", c.webhookID, "chunks", n)
		}
		return
	case wh.Held():
		// Paused or disabled since the claim (claim skips held webhooks): give it back
		// untried. It waits a poll interval, so a store that disagrees with
		// walhook.webhooks cannot make a worker spin.
		s.logErr(c.webhookID, s.st.release(ctx, c.id, c.claim, now.Add(s.cfg.QueuePollInterval)))
		return
	}
	if ok, at := s.breakerFor(wh.ID).allow(now); !ok {
		s.logErr(c.webhookID, s.st.release(ctx, c.id, c.claim, at))
		return
	}
	res := s.attempt(ctx, wh, c.deliveryID, c.body, c.attempt, c.items)
	if res.aborted {
		return
	}
	end := time.Now()
	if res.v.Outcome == OutcomeDelivered {
		for range c.items {
			s.met.commitLatency.Observe(end.Sub(c.committedAt).Seconds())
		}
	}
	ctx, cancel := settleContext(ctx)
	defer cancel()
	s.settleRow(ctx, rowRef{id: c.id, claim: c.claim, deliveryID: c.deliveryID, lane: lane, attempt: c.attempt, firstFailed: c.firstFailed}, wh, res, end)
}

// settleContext outlives a shutdown briefly, so that the result of an attempt that was
// made is recorded rather than repeated.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// rowRef is a queued chunk held for an attempt.
type rowRef struct {
	id, claim   int64
	deliveryID  string
	lane        laneKey
	attempt     int
	firstFailed time.Time // zero before any failure
}

// settleRow records an attempt's result on its queue row: delivered chunks leave the
// queue; a 410 Gone disables the webhook and holds the chunk; other failures are
// rescheduled by the backoff policy, or dead-lettered once their retry window is spent
// (then the webhook is disabled if it failed the whole window). A database error is
// logged: the lease runs out and the chunk is tried again.
func (s *Sender) settleRow(ctx context.Context, r rowRef, wh *matcher.Webhook, res attemptResult, now time.Time) {
	if res.v.Outcome == OutcomeDelivered {
		s.logErr(wh.ID, s.st.delivered(ctx, r.id, r.claim, r.lane, now))
		return
	}
	// Disabled first, then released: no worker may claim the chunk in between.
	if res.v.Gone && s.disable(ctx, wh.ID, disabledGone, goneReason, "delivery_id", r.deliveryID) {
		s.logErr(wh.ID, s.st.hold(ctx, r.id, r.claim, now, res.status, res.errText))
		return
	}
	first := r.firstFailed
	if first.IsZero() {
		first = now
	}
	next, dead := s.policy.next(first, now, r.attempt, res.v.RetryAfter)
	if !dead {
		if s.logErr(wh.ID, s.st.retry(ctx, r.id, r.claim, next, first, res.status, res.errText)) {
			s.met.retries.Inc()
		}
		return
	}
	if !s.logErr(wh.ID, s.st.bury(ctx, r.id, r.claim, r.lane, now, res.status, res.errText)) {
		return
	}
	s.met.deadLetters.Inc()
	s.log.Warn("chunk dead-lettered after its retry window", "webhook_id", wh.ID, "attempt", r.attempt,
		"failing_since", first, "err", res.errText)
	s.maybeDisable(ctx, wh.ID, first)
}

// logErr logs a state-database error (rate-limited) and reports whether there was none.
func (s *Sender) logErr(webhookID string, err error) bool {
	if err == nil {
		return true
	}
	s.errLog.Warn(s.log, "queue/"+webhookID, "update durable queue", "webhook_id", webhookID, "err", err)
	return false
}

// noteLane tells this process's loop of the webhook, if any, that a queued chunk of the
// lane was settled, so a parked lane checks whether it can leave the queue.
func (s *Sender) noteLane(l laneKey) {
	h := s.localHook(l.webhookID)
	if h == nil {
		return
	}
	h.mu.Lock()
	h.recheck = true
	h.mu.Unlock()
	h.signal()
}

// Maintenance intervals.
const (
	depthInterval  = 15 * time.Second
	repairInterval = time.Minute
	pruneInterval  = 10 * time.Minute
)

// maintain refreshes the queue depth gauge, repairs headless lanes, forgets idle circuit
// breakers and prunes the delivery log and old dead letters until ctx ends.
func (s *Sender) maintain(ctx context.Context) {
	var lastRepair, lastPrune time.Time
	t := time.NewTicker(depthInterval)
	defer t.Stop()
	for {
		now := time.Now()
		if pending, dead, err := s.st.counts(ctx); err == nil {
			s.met.queueChunks.WithLabelValues(statePending).Set(float64(pending))
			s.met.queueChunks.WithLabelValues(stateDead).Set(float64(dead))
		} else if ctx.Err() == nil {
			s.errLog.Warn(s.log, "counts", "count queued chunks", "err", err)
		}
		if now.Sub(lastRepair) >= repairInterval {
			lastRepair = now
			s.pruneBreakers(now)
			if n, err := s.st.repairHeadless(ctx, now); err != nil && ctx.Err() == nil {
				s.errLog.Warn(s.log, "repair", "repair queue lanes", "err", err)
			} else if n > 0 {
				s.log.Warn("gave a head to queue lanes that had none", "lanes", n)
			}
		}
		if now.Sub(lastPrune) >= pruneInterval {
			lastPrune = now
			if _, err := s.st.prune(ctx, s.cfg.cutoffs(now)); err != nil && ctx.Err() == nil {
				s.errLog.Warn(s.log, "prune", "prune delivery log", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
