package cdc

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pglogrepl"

	"github.com/walhook/walhook/event"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const owner1, owner2 = "9900cce6-bcd6-412a-bcd1-1904556c949a", "11111111-2222-3333-4444-555555555555"

// run decodes one transaction made of msgs and returns the events' names.
func run(t *testing.T, d *decoder, rec *recorder, msgs ...[]byte) []string {
	t.Helper()
	rec.events = nil
	at := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	all := append([][]byte{beginMsg(0x1000, at, 7)}, msgs...)
	all = append(all, commitMsg(0x1000, 0x1010, at))
	for _, m := range all {
		if err := d.decode(0x900, m); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	var names []string
	for _, ev := range rec.events {
		names = append(names, string(ev.Name))
	}
	return names
}

func TestDeriveEvents(t *testing.T) {
	opp := deal("1", "opportunity", owner1, "Open", "10", "f")
	lostTwice := deal("1", "opportunity", owner1, "Lost", "10", "f")
	lostTwice[8] = s("lost")
	lead := deal("1", "lead", owner1, "Open", "10", "f")
	tests := []struct {
		name string
		msg  []byte
		want []string
	}{
		{"insert", insertMsg(1, opp...), []string{"Opportunity.Create"}},
		{"owner change", updateMsg(1, opp, deal("1", "opportunity", owner2, "Open", "10", "f")),
			[]string{"Opportunity.Update", "Opportunity.OwnerChanged"}},
		{"won and moved", updateMsg(1, opp, deal("1", "opportunity", owner1, "Won", "11", "f")),
			[]string{"Opportunity.Update", "Opportunity.Won", "Opportunity.Move"}},
		{"lost twice over raises Lost once", updateMsg(1, opp, lostTwice),
			[]string{"Opportunity.Update", "Opportunity.Lost"}},
		{"soft delete", updateMsg(1, opp, deal("1", "opportunity", owner1, "Open", "10", "t")), []string{"Opportunity.Delete"}},
		{"qualify", updateMsg(1, lead, opp), []string{"Opportunity.Update", "Opportunity.Qualify"}},
		{"back to lead", updateMsg(1, opp, lead), []string{"Lead.Update", "Lead.BackToLead"}},
		{"delete", deleteMsg(1, opp...), []string{"Opportunity.Delete"}},
		{"unknown discriminator", insertMsg(1, deal("2", "other", owner1, "Open", "1", "f")...), nil},
		{"comment", insertMsg(3, s("5"), s("42"), s("call back")), []string{"Task.Comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, rec := newTestDecoder(t)
			if diff := cmp.Diff(tt.want, run(t, d, rec, tt.msg)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventContents(t *testing.T) {
	d, rec := newTestDecoder(t)
	old := deal("1", "opportunity", owner1, "Open", "10", "f")
	upd := deal("1", "opportunity", owner2, "Won", "10", "f")
	upd[8] = s("\x00u") // unchanged TOAST: filled from the old tuple
	run(t, d, rec, skipKeyMsg("gmail_sync"), updateMsg(1, old, upd))
	if len(rec.events) != 3 {
		t.Fatalf("got %d events, want 3", len(rec.events))
	}
	ev := rec.events[0]
	if ev.ID != "0000000000001000-1-Opportunity.Update" || ev.EntityID != "1" || ev.XID != 7 || ev.CommitLSN != 0x1000 {
		t.Errorf("identity: id=%s entity_id=%s xid=%d lsn=%s", ev.ID, ev.EntityID, ev.XID, ev.CommitLSN)
	}
	if diff := cmp.Diff([]string{"owner_id", "status"}, ev.Changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gmail_sync"}, ev.SkipKeys); diff != "" {
		t.Errorf("skip keys (-want +got):\n%s", diff)
	}
	got := string(ev.New.AppendJSON(nil))
	want := `{"id":1,"kind":"opportunity","owner_id":"` + owner2 + `","status":"Won","step_id":10,"closing_date":"2026-12-01","is_deleted":false,"notes":"long notes"}`
	if got != want {
		t.Errorf("new row JSON\n got %s\nwant %s", got, want)
	}
	if rec.events[1].ID != "0000000000001000-1-Opportunity.OwnerChanged" || rec.events[2].Name != "Opportunity.Won" {
		t.Errorf("follow-up events: %s, %s", rec.events[1].ID, rec.events[2].Name)
	}
	if len(rec.commits) != 1 || rec.commits[0].EndLSN != 0x1010 || rec.commits[0].Events != 3 {
		t.Errorf("commit: %+v", rec.commits)
	}
}

func TestLinkEventCarriesRelatedRow(t *testing.T) {
	d, rec := newTestDecoder(t)
	run(t, d, rec, insertMsg(3, s("5"), s("42"), s("call back")))
	ev := rec.events[0]
	if ev.Entity != "Task" || ev.EntityID != "42" || ev.New != nil || ev.Related == nil {
		t.Fatalf("event %+v", ev)
	}
	if ev.Related.Entity != "TaskComment" || ev.Related.ID != "5" || string(ev.Related.Row.AppendJSON(nil)) != `{"id":5,"task_id":42,"body":"call back"}` {
		t.Errorf("related %+v / %s", ev.Related, ev.Related.Row.AppendJSON(nil))
	}
}

func TestColumnAddedByRelationMessage(t *testing.T) {
	d, rec := newTestDecoder(t)
	if err := d.decode(0, relationMsg(2, "crm", "tasks", []wireCol{{"id", 20}, {"subject", 25}, {"priority", 21}})); err != nil {
		t.Fatal(err)
	}
	run(t, d, rec, insertMsg(2, s("9"), s("Call"), s("3")))
	if got := string(rec.events[0].New.AppendJSON(nil)); got != `{"id":9,"subject":"Call","priority":3}` {
		t.Errorf("row after added column: %s", got)
	}
}

func TestMalformedIsErrorNamingLSN(t *testing.T) {
	d, _ := newTestDecoder(t)
	if err := d.decode(0, beginMsg(0x1000, time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	bad := insertMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f")...)
	err := d.decode(0x16B3A28, bad[:len(bad)-3])
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), pglogrepl.LSN(0x16B3A28).String()) {
		t.Errorf("err = %v; want ErrMalformed naming 0/16B3A28", err)
	}
}

// panicker is a handler with a bug: it panics on an event or a commit.
type panicker struct{ onCommit bool }

func (p panicker) event(*event.Event) error {
	if !p.onCommit {
		var m map[string]int
		m["boom"]++ // a runtime error, as a matcher or sender bug would raise
	}
	return nil
}

func (p panicker) message(event.Message) error { return nil }

func (p panicker) commit(event.Txn) error {
	if p.onCommit {
		panic("handler bug")
	}
	return nil
}

// TestHandlerPanicIsNotMalformed: the recover guards the parsing of outside bytes only. A
// panic in the handler (the matcher, the sender) goes up as the panic it is, not as a
// "malformed pgoutput message" error, which the reader would class permanent.
func TestHandlerPanicIsNotMalformed(t *testing.T) {
	at := time.Unix(0, 0)
	for _, tc := range []struct {
		name     string
		onCommit bool
		msg      []byte
	}{
		{"event", false, insertMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f")...)},
		{"commit", true, commitMsg(0x10, 0x20, at)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newTestDecoder(t)
			d.h = panicker{onCommit: tc.onCommit}
			if err := d.decode(0, beginMsg(0x10, at, 1)); err != nil {
				t.Fatal(err)
			}
			var err error
			recovered := func() (r any) {
				defer func() { r = recover() }()
				err = d.decode(0x20, tc.msg)
				return nil
			}()
			if recovered == nil {
				t.Errorf("decode returned %v; want the handler's panic to propagate", err)
			}
			if errors.Is(err, ErrMalformed) {
				t.Errorf("a handler panic was reported as malformed input: %v", err)
			}
		})
	}
}

// TestCheckLengths: every message pglogrepl.Parse would index past is refused before it
// reaches Parse, with ErrMalformed and without a recovered panic.
func TestCheckLengths(t *testing.T) {
	rel := relationMsg(4, "crm", "x", []wireCol{{"a", 23}, {"b", 25}})
	trunc := wire{'T'}.u32(2).u8(0).u32(1).u32(2)
	msg := skipKeyMsg("gmail_sync")
	for _, whole := range [][]byte{rel, trunc, msg} {
		if _, err := parseMessage(whole); err != nil {
			t.Fatalf("parse whole %c message: %v", whole[0], err)
		}
		for n := 1; n < len(whole); n++ {
			_, err := parseMessage(whole[:n])
			if !errors.Is(err, ErrMalformed) || errors.Is(err, errParsePanic) {
				t.Errorf("%c message cut to %d of %d bytes: err = %v; want ErrMalformed from a length check", whole[0], n, len(whole), err)
			}
		}
	}
	// A relation count far beyond the message is refused before Parse sizes a slice by it.
	if _, err := parseMessage(wire{'T'}.u32(0xffffffff).u8(0).u32(1)); !errors.Is(err, ErrMalformed) || errors.Is(err, errParsePanic) {
		t.Errorf("truncate of 2^32-1 relations: err = %v", err)
	}
}

// FuzzDecode: any bytes give an error or events, never a panic. A panic in our code is not
// recovered, so it fails the fuzz test; a panic recovered in pglogrepl.Parse means a length
// check is missing, and fails it too.
func FuzzDecode(f *testing.F) {
	f.Add(insertMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f")...))
	f.Add(updateMsg(1, deal("1", "lead", owner1, "Open", "1", "f"), deal("1", "opportunity", owner2, "Won", "2", "t")))
	f.Add(deleteMsg(3, s("1"), nil, s("x")))
	f.Add(relationMsg(4, "crm", "x", []wireCol{{"a", 23}}))
	f.Add(skipKeyMsg("k"))
	f.Add(commitMsg(1, 2, time.Unix(0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := newTestDecoder(t)
		if err := d.decode(0, beginMsg(0x10, time.Unix(0, 0), 1)); err != nil {
			t.Fatal(err)
		}
		if err := d.decode(0x20, data); errors.Is(err, errParsePanic) {
			t.Fatalf("decode recovered a runtime panic in the parser: %v", err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	d, rec := newTestDecoder(b)
	if err := d.decode(0, beginMsg(0x1000, time.Now(), 1)); err != nil {
		b.Fatal(err)
	}
	ins := insertMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f")...)
	upd := updateMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f"), deal("1", "opportunity", owner2, "Won", "11", "f"))
	for _, bc := range []struct {
		name string
		msg  []byte
	}{{"insert", ins}, {"update-4-events", upd}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := d.decode(0x1000, bc.msg); err != nil {
					b.Fatal(err)
				}
				n += len(rec.events)
				rec.events = rec.events[:0]
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
