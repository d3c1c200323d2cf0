package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestMain doubles as the receiver process: StartReceiver in these tests runs this test
// binary with BENCH_RECEIVER_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_RECEIVER_CHILD") == "1" {
		if err := ServeReceiver(context.Background(), testSecret, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

const testSecret = "01234567-abcd-dcba-ffff-000000000000"

func TestScanDelivery(t *testing.T) {
	body := []byte(`{"webhook_id":"w1","delivery_id":"d","items":[` +
		`{"id":"0000000000001000-1-Task.Create","event":"Task.Create","entity":"Task","entity_id":"1","committed_at":"2026-11-23T12:00:00.000001Z","lsn":"0/1000","xid":7,"data":{"id":"a uuid","note":"{\"id\":\"x\""},"previous":null,"changed_fields":null,"related_entity":null},` +
		`{"id":"0000000000001000-2-Task.Create","event":"Task.Create","entity":"Task","entity_id":"2","committed_at":"2026-11-23T12:00:00.000002Z","lsn":"0/1000","xid":7,"data":{"id":2},"previous":null,"changed_fields":null,"related_entity":null}]}`)
	wh, items, ok := scanDelivery(body)
	want := []benchItem{{[]byte("0000000000001000-1-Task.Create"), []byte("2026-11-23T12:00:00.000001Z")}, {[]byte("0000000000001000-2-Task.Create"), []byte("2026-11-23T12:00:00.000002Z")}}
	if !ok || string(wh) != "w1" {
		t.Fatalf("ok=%v webhook=%q", ok, wh)
	}
	if diff := cmp.Diff(want, items, cmp.AllowUnexported(benchItem{})); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if _, _, ok := scanDelivery([]byte(`{"other":1}`)); ok {
		t.Error("accepted a body that is not a delivery")
	}
}

// delivery returns a signed delivery of items ids (committed now) to webhook wh.
func delivery(wh string, ids ...string) (body, sig string) {
	var items []string
	for _, id := range ids {
		items = append(items, fmt.Sprintf(`{"id":%q,"event":"Task.Create","entity":"Task","committed_at":%q}`, id, time.Now().UTC().Format(time.RFC3339Nano)))
	}
	return deliveryBody(wh, items)
}

// deliveryBody returns a signed delivery of rendered items to webhook wh.
func deliveryBody(wh string, items []string) (body, sig string) {
	body = fmt.Sprintf(`{"webhook_id":%q,"delivery_id":"d","items":[%s]}`, wh, strings.Join(items, ","))
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(body))
	return body, hex.EncodeToString(mac.Sum(nil))
}

// TestReceiverProcess starts the receiver as a process of its own and checks what it
// counts: distinct items per webhook, redeliveries, bad signatures, non-deliveries, and
// that a reset forgets them.
func TestReceiverProcess(t *testing.T) {
	ctx := context.Background()
	rr, err := StartReceiver(ctx, []string{"/usr/bin/env", "BENCH_RECEIVER_CHILD=1", os.Args[0], "-test.run=^$"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rr.Close(); err != nil {
			t.Errorf("receiver exit: %v", err)
		}
	})
	post := func(body, sig string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, rr.URL("insert/0"), strings.NewReader(body))
		req.Header.Set("WebHook-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, d := range []struct {
		wh   string
		ids  []string
		bad  bool
		want int
	}{
		{"w1", []string{"a", "b"}, false, 204},
		{"w1", []string{"b", "c"}, false, 204}, // b again: a redelivery
		{"w2", []string{"a"}, false, 204},      // the same event to another webhook counts
		{"w1", []string{"z"}, true, 401},
	} {
		body, sig := delivery(d.wh, d.ids...)
		if d.bad {
			sig = strings.Repeat("0", 64)
		}
		if got := post(body, sig); got != d.want {
			t.Errorf("delivery %v: status %d, want %d", d.ids, got, d.want)
		}
	}
	if got := post(`{"hello":1}`, sign(`{"hello":1}`)); got != 400 {
		t.Errorf("not a delivery: status %d, want 400", got)
	}
	s, err := rr.Wait(ctx, 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := [5]int{s.Requests, s.Items, s.Unique, s.BadSignatures, s.NotDeliveries}
	if want := [5]int{3, 5, 4, 1, 1}; got != want {
		t.Errorf("requests, items, unique, bad signatures, not deliveries = %v, want %v", got, want)
	}
	if s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 || s.First.IsZero() || s.Last.Before(s.First) {
		t.Errorf("latencies and times %+v", s)
	}
	if err := rr.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := rr.Stats(ctx); err != nil || s.Unique != 0 || s.Requests != 0 || s.BadSignatures != 0 || !s.First.IsZero() || s.LatencyP99 != 0 {
		t.Errorf("after reset: %+v, %v", s, err)
	}
}

func sign(body string) string {
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestPercentile(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 95: 95, 99: 99, 100: 100, 0: 1} {
		if got := percentile(l, p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one = %d", got)
	}
}

// TestReceiverFirstReceipts checks that a redelivered item is counted once and that only
// its first receipt's latency counts: the redelivery below claims a commit an hour back,
// so counting it would put p99 near an hour.
func TestReceiverFirstReceipts(t *testing.T) {
	r := NewReceiver(testSecret)
	item := func(id string, ago time.Duration) string {
		return fmt.Sprintf(`{"id":%q,"event":"Task.Create","entity":"Task","committed_at":%q}`, id, time.Now().Add(-ago).UTC().Format(time.RFC3339Nano))
	}
	for _, items := range [][]string{
		{item("a", time.Second), item("b", time.Second)},
		{item("a", time.Hour), item("c", time.Second)}, // a again
	} {
		serveDelivery(t, r, "w1", items)
	}
	if !r.Wait(3, time.Now()) {
		t.Error("Wait: 3 distinct items did not count as arrived")
	}
	if r.Wait(4, time.Now().Add(time.Millisecond)) {
		t.Error("Wait: 4 items counted as arrived; 3 distinct did")
	}
	s := r.Stats()
	if s.Items != 4 || s.Unique != 3 {
		t.Errorf("items %d, unique %d; want 4, 3", s.Items, s.Unique)
	}
	if s.LatencyP99 < time.Second || s.LatencyP99 > time.Minute {
		t.Errorf("p99 %s: want about 1s (the first receipts'), not the redelivery's hour", s.LatencyP99)
	}
}

// serveDelivery hands r a signed delivery of rendered items to webhook wh, in process,
// and fails tb unless it is accepted.
func serveDelivery(tb testing.TB, r *Receiver, wh string, items []string) {
	tb.Helper()
	body, sig := deliveryBody(wh, items)
	req := httptest.NewRequest(http.MethodPost, "/hook/x", strings.NewReader(body))
	req.Header.Set("WebHook-Signature", sig)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent {
		tb.Fatalf("status %d: %s", w.Code, w.Body)
	}
}
