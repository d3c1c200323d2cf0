package inbound

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestLandOnceByWebhookID: a call landed again with the same webhook-id writes nothing
// and answers the first call's id; the message reaches the WAL once.
func TestLandOnceByWebhookID(t *testing.T) {
	c := crmtest.New(t)
	s := New(Config{DB: c.Pool(t, nil)})
	ctx := context.Background()
	wh, err := s.st.create(ctx, &Webhook{EventKey: "webhook.t"})
	if err != nil {
		t.Fatal(err)
	}
	l := func(msgID string) (string, bool) {
		t.Helper()
		id, dup, err := s.land(ctx, &landing{webhookUUID: wh.UUID, messageID: msgID, callID: uuid.NewString(), key: "webhook.t",
			call: []byte(`{"uuid":"` + wh.UUID + `"}`), files: []callFile{newFile("f", "a", "text/plain", []byte("x"))}, receivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return id, dup
	}
	first, dup1 := l("m1")
	again, dup2 := l("m1")
	other, dup3 := l("m2")
	if dup1 || !dup2 || dup3 || again != first || other == first {
		t.Errorf("land m1, m1, m2 = %s %t, %s %t, %s %t", first, dup1, again, dup2, other, dup3)
	}
	var files int
	if err := c.Conn.QueryRow(ctx, `SELECT count(*) FROM walhook.inbound_files`).Scan(&files); err != nil || files != 2 {
		t.Errorf("%d files stored (%v), want 2", files, err)
	}
}

// BenchmarkLand measures the landing transaction alone (synchronous commit), the
// receive path's cost in the database per call, for a 1 KB call object.
func BenchmarkLand(b *testing.B) {
	c := crmtest.New(b)
	s := New(Config{DB: c.Pool(b, nil)})
	ctx := context.Background()
	wh, err := s.st.create(ctx, &Webhook{EventKey: "webhook.bench"})
	if err != nil {
		b.Fatal(err)
	}
	call := fmt.Appendf(nil, `{"uuid":"%s","pad":"%0990d"}`, wh.UUID, 0)
	for _, withID := range []bool{false, true} {
		b.Run(fmt.Sprintf("webhook-id=%t", withID), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l := &landing{webhookUUID: wh.UUID, callID: uuid.NewString(), key: "webhook.bench", call: call, receivedAt: time.Now()}
				if withID {
					l.messageID = l.callID
				}
				if _, _, err := s.land(ctx, l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
