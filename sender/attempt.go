package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/walhook/walhook/matcher"
)

// attemptResult is one attempt's classified result.
type attemptResult struct {
	v      verdict
	status int // 0: no response
	// errText describes a failure for the queue, the delivery log and the log: the
	// method, the URL's origin (see urlOrigin) and the transport error or status. Never
	// a body.
	errText string
	// aborted: the sender is closing and the attempt was cut short; nothing is decided
	// (a queued chunk's lease runs out and it is tried again).
	aborted bool
}

// attemptTimeout bounds one attempt to wh: its own timeout, capped by MaxRequestTimeout, or
// RequestTimeout. A queued chunk is claimed for RequestTimeout plus leaseMargin before its
// webhook is known: a webhook timeout longer than that may let a second instance attempt
// the same chunk while the first is still waiting (a duplicate, never a loss).
func attemptTimeout(cfg Config, wh *matcher.Webhook) time.Duration {
	if wh != nil && wh.Timeout > 0 {
		return min(wh.Timeout, cfg.MaxRequestTimeout)
	}
	return cfg.RequestTimeout
}

// attempt makes one delivery attempt of a body to a webhook, and accounts for it:
// metrics, circuit breaker, delivery log, and a rate-limited log line on failure. sig is
// the body's WebHook-Signature when signed ahead (presign), else "".
func (s *Sender) attempt(ctx context.Context, wh *matcher.Webhook, deliveryID string, body []byte, sig string, attempt, items int) attemptResult {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, attemptTimeout(s.cfg, wh))
	defer cancel()
	var (
		status int
		header http.Header
		resp   []byte
	)
	req, err := newSignedRequest(actx, wh, deliveryID, body, sig, start, s.ua, s.cfg.RotationGrace)
	if err == nil {
		var r *http.Response
		if r, err = s.clients.get(wh.InsecureSSL).Do(req); err == nil {
			status, header = r.StatusCode, r.Header
			resp = readResponse(r.Body)
		}
	}
	end := time.Now()
	if ctx.Err() != nil {
		return attemptResult{aborted: true}
	}
	res := attemptResult{v: classify(status, header, err, end), status: status}
	switch {
	case err != nil:
		res.errText = describeError(wh.URL, err)
	case res.v.Outcome != OutcomeDelivered:
		res.errText = fmt.Sprintf("POST %s: HTTP %d", urlOrigin(wh.URL), status)
	}
	dur := end.Sub(start)
	s.met.delivery(res.v.Outcome, status)
	s.met.requestDuration.Observe(dur.Seconds())
	br := s.breakerFor(wh.ID)
	if res.v.Outcome == OutcomeDelivered {
		br.success()
	} else if br.failure(end) {
		s.met.breakerOpens.Inc()
		s.log.Warn("circuit breaker open: holding deliveries back", "webhook_id", wh.ID, "attempt", attempt, "err", res.errText)
	}
	s.logw.add(logEntry{
		webhookID: wh.ID, deliveryID: deliveryID, attempt: attempt, at: start, items: items,
		outcome: res.v.Outcome, status: status, duration: dur, errText: res.errText, response: resp,
	})
	if res.v.Outcome != OutcomeDelivered {
		s.errLog.Warn(s.log, "attempt/"+wh.ID, "delivery attempt failed",
			"webhook_id", wh.ID, "delivery_id", deliveryID, "attempt", attempt,
			"outcome", res.v.Outcome.String(), "status", status, "err", res.errText)
	}
	return res
}

// urlOrigin returns scheme://host[:port] of a webhook URL: the only part of it that
// errors and logs name (STYLE 13). User info, path, query and fragment may hold secrets —
// Slack, Discord and Zapier URLs carry their token in the path — and webhook_id already
// identifies the webhook.
func urlOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host
}

// describeError describes a transport error naming only the URL's origin. The
// *url.Error that the client wraps around every error names the whole URL, so only its
// cause is kept; any other part of the URL that the cause quotes is cut out too.
func describeError(rawURL string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "POST " + urlOrigin(rawURL) + ": " + redactURL(err.Error(), rawURL)
}

// redactURL replaces in msg the parts of rawURL past its origin (the whole URL, its path,
// query, fragment and password, raw and decoded) with "[redacted]". Parts of fewer than
// three bytes are left alone: too short for a secret, and replacing "/" would mangle the
// message.
func redactURL(msg, rawURL string) string {
	parts := []string{rawURL}
	if u, err := url.Parse(rawURL); err == nil {
		parts = append(parts, u.EscapedPath(), u.Path, u.RawQuery, u.Fragment, u.EscapedFragment())
		if q, err := url.QueryUnescape(u.RawQuery); err == nil {
			parts = append(parts, q)
		}
		if pw, ok := u.User.Password(); ok {
			parts = append(parts, pw)
		}
	}
	for _, p := range parts {
		if len(p) >= 3 {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	return msg
}

// errNotHere means a queued chunk's webhook is unknown to this process and there is no
// webhook store to ask.
var errNotHere = errors.New("webhook unknown to this process and no webhook store configured")

// lookup returns the webhook of a queued chunk: from the store when configured, else as
// this process last saw it. It returns nil, nil when the webhook no longer exists.
func (s *Sender) lookup(ctx context.Context, id string) (*matcher.Webhook, error) {
	if s.cfg.Webhooks != nil {
		wh, err := s.cfg.Webhooks.Get(ctx, id)
		if errors.Is(err, matcher.ErrNotFound) {
			return nil, nil
		}
		return wh, err
	}
	if h := s.localHook(id); h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.wh, nil
	}
	return nil, fmt.Errorf("look up webhook %s: %w", id, errNotHere)
}

// hasDelivered reports whether any attempt to the webhook succeeded at or after since,
// in this process or, per the delivery log, anywhere.
func (s *Sender) hasDelivered(ctx context.Context, id string, since time.Time) (bool, error) {
	if s.breakerFor(id).succeededSince(since) {
		return true, nil
	}
	var ok bool
	err := s.st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM walhook.delivery_log
		WHERE webhook_id = $1 AND outcome = 'delivered' AND attempted_at >= $2)`, id, since).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read delivery log of webhook %s: %w", id, err)
	}
	return ok, nil
}

// maybeDisable disables a webhook whose chunk was just dead-lettered, if no delivery to
// it succeeded since the chunk first failed: it failed for a whole retry window.
func (s *Sender) maybeDisable(ctx context.Context, id string, since time.Time) {
	if s.cfg.Webhooks == nil {
		return
	}
	ok, err := s.hasDelivered(ctx, id, since)
	if err != nil || ok {
		if err != nil {
			s.errLog.Warn(s.log, "disable/"+id, "cannot decide whether to disable webhook", "webhook_id", id, "err", err)
		}
		return
	}
	s.disable(ctx, id, disabledFailing, fmt.Sprintf("endpoint failed for the whole retry window (%s)", s.cfg.RetryWindow),
		"failing_since", since, "retry_window", s.cfg.RetryWindow)
}

// goneReason is the disabled_reason of a webhook whose endpoint answered 410 Gone.
const goneReason = "endpoint answered 410 Gone"

// disable disables the webhook in the store for reason and reports whether it is
// disabled now (by this call or an earlier one). The first call that disables it counts
// it (label cause) and logs it at warning level, with args; later ones for the same cause
// (other lanes, other instances) do neither.
func (s *Sender) disable(ctx context.Context, id, cause, reason string, args ...any) bool {
	if s.cfg.Webhooks == nil {
		return false
	}
	changed, err := s.cfg.Webhooks.Disable(ctx, id, reason)
	if err != nil {
		if !errors.Is(err, matcher.ErrNotFound) {
			s.errLog.Warn(s.log, "disable/"+id, "disable webhook", "webhook_id", id, "err", err)
		}
		return false
	}
	if changed {
		s.met.disabled.WithLabelValues(cause).Inc()
		s.log.Warn("webhook disabled: its events are held until it is resumed through the API",
			append([]any{"webhook_id", id, "reason", reason}, args...)...)
	}
	return true
}
