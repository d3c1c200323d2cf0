package sender

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome is how one delivery attempt ended. Its String is the "outcome" metric label.
type Outcome uint8

// The outcomes. Every outcome but OutcomeDelivered is retried (DESIGN.md §5): a 4xx may
// be an endpoint deployed half-way, so unlike some senders walhook does not give up on it
// before the retry window ends.
const (
	// OutcomeDelivered: a 2xx response.
	OutcomeDelivered Outcome = iota
	// OutcomeHTTPError: any other response, 3xx included (redirects are not followed).
	OutcomeHTTPError
	// OutcomeTimeout: the attempt ran out of time (RequestTimeout) before a response.
	OutcomeTimeout
	// OutcomeConnectionError: DNS, connect, TLS or protocol failure.
	OutcomeConnectionError
	// OutcomeBlocked: the target address is private and private targets are not allowed.
	OutcomeBlocked
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"delivered", "http_error", "timeout", "connection_error", "blocked"}

// String returns the outcome's snake_case name, as used for the "outcome" metric label,
// the delivery log's outcome column and the "outcome" log key; "unknown" for a value
// outside the defined outcomes.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// statusClasses are the "status_class" metric label values; "none" is an attempt that
// got no response.
var statusClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx", "none", "other"}

// statusClass returns the status_class label of an HTTP status (0: no response).
func statusClass(status int) string {
	switch {
	case status == 0:
		return "none"
	case status >= 100 && status < 600:
		return statusClasses[status/100-1]
	}
	return "other"
}

// verdict is the classification of one attempt.
type verdict struct {
	Outcome Outcome
	// Retry is true for every outcome but OutcomeDelivered.
	Retry bool
	// RetryAfter is the endpoint's Retry-After hint (0: none); the backoff honours it.
	RetryAfter time.Duration
	// Gone: the endpoint answered 410 Gone, which disables the webhook at once (Standard
	// Webhooks). The chunk is not retried but held, with the webhook's later events,
	// until the webhook is resumed. Retry stays true: without a webhook store to record
	// the disable, the chunk is retried like any failure.
	Gone bool
}

// timeouter is satisfied by errors that know whether they are timeouts (net.Error,
// url.Error, pgconn errors…).
type timeouter interface{ Timeout() bool }

// classify is the single place that turns an attempt's result into an outcome: status is
// the response status (0 when err is set), header the response headers (may be nil), now
// the time of the response (for an HTTP-date Retry-After).
func classify(status int, header http.Header, err error, now time.Time) verdict {
	if err != nil {
		var t timeouter
		switch {
		case errors.Is(err, errForbiddenTarget):
			return verdict{Outcome: OutcomeBlocked, Retry: true}
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &t) && t.Timeout():
			return verdict{Outcome: OutcomeTimeout, Retry: true}
		}
		return verdict{Outcome: OutcomeConnectionError, Retry: true}
	}
	if status >= 200 && status < 300 {
		return verdict{Outcome: OutcomeDelivered}
	}
	v := verdict{Outcome: OutcomeHTTPError, Retry: true, Gone: status == http.StatusGone}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), now); ok {
		v.RetryAfter = d
	}
	return v
}

// maxRetryAfter caps a Retry-After hint; the retry window bounds it further.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date (RFC 9110
// §10.2.3). A date in the past means no wait; values it cannot read are ignored (ok
// false). The result is at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return maxRetryAfter, true
			}
			return 0, false
		}
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}
