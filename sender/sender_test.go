package sender

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

func TestTransactionChunks(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(250, oneEach)
	feed(t, s, wh, evs, txn)

	var sizes []int
	var ids []string
	for range 3 {
		r := rc.next(t)
		sizes = append(sizes, len(r.p.Items))
		for _, it := range r.p.Items {
			ids = append(ids, it.ID)
		}
		if r.p.WebhookID != wh.ID {
			t.Errorf("webhook_id %q, want %q", r.p.WebhookID, wh.ID)
		}
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", diff)
	}
	for i, ev := range evs {
		if ids[i] != string(ev.ID) {
			t.Fatalf("item %d is %s, want %s (commit order)", i, ids[i], ev.ID)
		}
	}
	a.wait(t, txn.EndLSN)
	if n := queueRows(t, pool, wh.ID, statePending); n != 0 {
		t.Errorf("%d chunks in the durable queue, want 0 (fast path)", n)
	}
	if got := testutil.ToFloat64(s.met.delivered[OutcomeDelivered]["2xx"]); got != 3 {
		t.Errorf("walhook_deliveries_total{outcome=delivered,status_class=2xx} = %v, want 3", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", err, problems)
	}
}

func TestSmallTransactionsShareChunks(t *testing.T) {
	pool := stateDB(t)
	release := make(chan struct{})
	var first atomic.Bool
	rc := newReceiver(t, func(*request) int {
		if first.CompareAndSwap(false, true) {
			<-release // hold the first request so that later transactions pile up
		}
		return http.StatusOK
	})
	s, a := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	wh.ChunkSize = 10
	var g gen
	evs, txn := g.txn(1, oneEach)
	feed(t, s, wh, evs, txn)
	<-rc.all
	var ends []event.LSN
	for range 12 {
		evs, txn := g.txn(2, oneEach)
		feed(t, s, wh, evs, txn)
		ends = append(ends, txn.EndLSN)
	}
	close(release)
	total, reqs := 0, 0
	for total < 25 {
		r := rc.next(t)
		reqs++
		if len(r.p.Items)%2 != 0 && total > 0 {
			t.Errorf("chunk of %d items splits a 2-event transaction", len(r.p.Items))
		}
		total += len(r.p.Items)
	}
	if reqs > 4 {
		t.Errorf("24 events of 12 transactions that piled up came in %d chunks, want 3 (10, 10, 4)", reqs-1)
	}
	a.wait(t, ends...)
}

func TestRequestHeadersPipeliner(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	s, a := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	wh.Signature = "01234567-abcd-dcba-ffff-000000000000"
	wh.HTTPAuthUser, wh.HTTPAuthPassword = "hook-user", "s3cret"
	var g gen
	evs, txn := g.txn(3, oneEach)
	before := time.Now().Unix()
	feed(t, s, wh, evs, txn)
	r := rc.next(t)
	a.wait(t, txn.EndLSN)

	mac := hmac.New(sha256.New, []byte(wh.Signature))
	mac.Write(r.body)
	if got, want := r.header.Get("WebHook-Signature"), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("WebHook-Signature %q, want %q", got, want)
	}
	if got := r.header.Get("Webhook-Id"); got != r.p.DeliveryID || got == "" {
		t.Errorf("Webhook-Id %q, body delivery_id %q", got, r.p.DeliveryID)
	}
	ts, err := strconv.ParseInt(r.header.Get("Webhook-Timestamp"), 10, 64)
	if err != nil || ts < before || ts > time.Now().Unix() {
		t.Errorf("Webhook-Timestamp %q (err %v), want unix seconds of the attempt", r.header.Get("Webhook-Timestamp"), err)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "walhook/test"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	if !r.hasPw || r.user != "hook-user" || r.pass != "s3cret" {
		t.Errorf("basic auth %q/%q (%v), want hook-user/s3cret", r.user, r.pass, r.hasPw)
	}
	if len(r.p.Items) != 3 {
		t.Errorf("%d items, want 3", len(r.p.Items))
	}
}

func TestRequestHeadersStandardWebhooks(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	s, _ := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	wh.Signature = "01234567-abcd-dcba-ffff-000000000000"
	wh.Signing = matcher.SigningStandardWebhooks
	var g gen
	evs, txn := g.txn(2, oneEach)
	feed(t, s, wh, evs, txn)
	r := rc.next(t)

	// Verify as a Standard Webhooks library does: the secret is "whsec_" + base64 of the
	// key; the signed content is "<webhook-id>.<webhook-timestamp>.<body>".
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(wh.Signature))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var found bool
	for _, sig := range strings.Fields(r.header.Get("webhook-signature")) {
		found = found || sig == want
	}
	if !found {
		t.Errorf("webhook-signature %q does not contain %q", r.header.Get("webhook-signature"), want)
	}
	if id != r.p.DeliveryID {
		t.Errorf("webhook-id %q, want the delivery id %q", id, r.p.DeliveryID)
	}
}

func TestRetryKeepsDeliveryID(t *testing.T) {
	pool := stateDB(t)
	var calls atomic.Int32
	rc := newReceiver(t, func(*request) int {
		if calls.Add(1) == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s, a := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(5, oneEach)
	feed(t, s, wh, evs, txn)
	first := <-rc.all
	a.wait(t, txn.EndLSN) // acknowledged once queued, before the retry succeeds
	r := rc.next(t)
	if r.p.DeliveryID != first.p.DeliveryID || r.header.Get("Webhook-Id") != first.header.Get("Webhook-Id") {
		t.Errorf("retry has delivery id %s, first attempt %s", r.p.DeliveryID, first.p.DeliveryID)
	}
	if string(r.body) != string(first.body) {
		t.Error("retry body differs from the first attempt's")
	}
	eventually(t, "queue to empty", func() bool { return queueRows(t, pool, wh.ID, statePending) == 0 })
	eventually(t, "delivery log", func() bool {
		ds, _, err := s.Deliveries(context.Background(), wh.ID, DeliveryFilter{}, 0, 10)
		return err == nil && len(ds) == 2 && ds[0].Outcome == "delivered" && ds[1].Outcome == "http_error" &&
			ds[1].Status != nil && *ds[1].Status == 500 && ds[0].Attempt == 2
	})
}

func TestNothingMatchedAcksAtOnce(t *testing.T) {
	a := newAcks()
	s := New(testConfig(), itemRenderer{}, nil, a.ack)
	var g gen
	_, txn := g.txn(0, oneEach)
	if err := s.Commit(context.Background(), txn); err != nil {
		t.Fatal(err)
	}
	if a.count(txn.EndLSN) != 1 {
		t.Errorf("transaction that matched nothing acknowledged %d times, want 1", a.count(txn.EndLSN))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), matcher.Match{Webhook: newWebhook("http://x"), Event: nil}); err != ErrClosed {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}
