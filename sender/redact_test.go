package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/matcher"
)

func TestURLOrigin(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/XSECRET":            "https://hooks.slack.com",
		"https://user:pw@discord.com:8443/api/webhooks/1/tok?x=1#f": "https://discord.com:8443",
		"http://[::1]:9000/a?token=QSECRET":                         "http://[::1]:9000",
		"http://127.0.0.1":                                          "http://127.0.0.1",
		"hooks.zapier.com/hooks/catch/1/SECRET":                     "(invalid url)",
		"http://bad host/SECRET":                                    "(invalid url)",
		"":                                                          "(invalid url)",
	} {
		if got := urlOrigin(raw); got != want {
			t.Errorf("urlOrigin(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestDescribeErrorNamesOnlyOrigin(t *testing.T) {
	const raw = "https://user:PWSECRET@hooks.example.com:8443/services/T0/XSECRETPATH?token=QSECRET#FSECRET"
	for _, err := range []error{
		&url.Error{Op: "Post", URL: raw, Err: errors.New("dial tcp 10.0.0.1:8443: connect: connection refused")},
		&url.Error{Op: "Post", URL: raw, Err: fmt.Errorf("proxy for %s: boom", raw)},
		fmt.Errorf("build request: %w", &url.Error{Op: "parse", URL: raw, Err: errors.New("bad /services/T0/XSECRETPATH")}),
		errors.New("token=QSECRET rejected"),
		errors.New("user PWSECRET"),
	} {
		got := describeError(raw, err)
		if !strings.HasPrefix(got, "POST https://hooks.example.com:8443: ") {
			t.Errorf("describeError(%v) = %q, want it to name the origin", err, got)
		}
		for _, secret := range []string{"SECRET", "/services", "user:"} {
			if strings.Contains(got, secret) {
				t.Errorf("describeError(%v) = %q, contains %q", err, got, secret)
			}
		}
	}
}

// TestFailedDeliveryHidesURLSecrets: the errors of failed attempts — an HTTP error and
// a refused connection — name only the webhook URL's origin in the log, the queue's
// last_error and the delivery log. Webhook URLs such as Slack's carry their secret in
// the path.
func TestFailedDeliveryHidesURLSecrets(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, func(*request) int { return http.StatusInternalServerError })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there: the connection is refused

	var logs testlog.Buffer
	cfg := testConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.BreakerThreshold = 1 // the breaker's log line carries the error too
	cfg.RetryMinBackoff, cfg.RetryMaxBackoff = time.Hour, time.Hour
	s, a := startSender(t, cfg, pool)
	const secret = "/services/T000/B000/XSECRETPATH?token=QSECRET"
	whs := map[string]*matcher.Webhook{
		rc.srv.URL:         newWebhook(rc.srv.URL + secret),
		"http://" + closed: newWebhook("http://" + closed + secret),
	}
	var g gen
	for _, wh := range whs {
		evs, txn := g.txn(1, oneEach)
		feed(t, s, wh, evs, txn)
		a.wait(t, txn.EndLSN)
	}
	for origin, wh := range whs {
		var lastErr string
		eventually(t, "the failed chunk to be queued", func() bool {
			err := pool.QueryRow(context.Background(), `SELECT coalesce(last_error, '') FROM walhook.delivery_queue
				WHERE webhook_id = $1`, wh.ID).Scan(&lastErr)
			return err == nil && lastErr != ""
		})
		var logged string
		eventually(t, "the delivery log", func() bool {
			ds, _, err := s.Deliveries(context.Background(), wh.ID, DeliveryFilter{}, 0, 1)
			if err != nil || len(ds) == 0 {
				return false
			}
			logged = ds[0].Error
			return true
		})
		for what, text := range map[string]string{"queue last_error": lastErr, "delivery log error": logged} {
			if !strings.HasPrefix(text, "POST "+origin+": ") {
				t.Errorf("%s %q, want it to start with %q", what, text, "POST "+origin+": ")
			}
			if strings.Contains(text, "SECRET") || strings.Contains(text, "/services") {
				t.Errorf("%s %q shows the URL's path or query", what, text)
			}
		}
	}
	out := logs.String()
	for _, want := range []string{"delivery attempt failed", "circuit breaker open"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, "/services") {
		t.Errorf("log shows a webhook URL's path or query:\n%s", out)
	}
}
