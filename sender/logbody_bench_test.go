package sender

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// typicalBody returns a Pipeliner chunk body of n items shaped as the sample CRM's
// Account.Update items: a uuid id, about fifteen fields of names, e-mails, amounts and
// timestamps, and the previous values of two changed fields.
func typicalBody(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne"}
	b := fmt.Appendf(nil, `{"webhook_id":%q,"delivery_id":%q,"items":[`, uuid.NewString(), uuid.NewString())
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		id := uuid.NewString()
		name := words[r.IntN(len(words))] + " " + words[r.IntN(len(words))]
		b = fmt.Appendf(b, `{"id":"%016X-%d-Account.Update","event":"Account.Update","entity":"Account","entity_id":%q,`+
			`"committed_at":"2026-11-30T14:17:%02d.%06dZ","lsn":"0/%X","xid":%d,"data":{"id":%q,"name":%q,`+
			`"email":"info%d@%s.example.com","phone":"+1 555 %04d","owner_id":%q,"revenue":%d.%02d,"employees":%d,`+
			`"industry":%q,"city":%q,"country":"US","is_deleted":false,"created":"2025-%02d-%02dT10:00:00Z",`+
			`"modified":"2026-11-30T14:17:%02dZ","description":%q},"previous":{"name":%q,"revenue":%d},`+
			`"changed_fields":["name","revenue"],"related_entity":null}`,
			r.Uint64(), i+1, id, r.IntN(60), r.IntN(1e6), r.Uint32(), r.Uint32(), id, name,
			r.IntN(1000), words[r.IntN(len(words))], r.IntN(10000), uuid.NewString(), r.IntN(1e7), r.IntN(100), r.IntN(5000),
			words[r.IntN(len(words))]+" Industries", words[r.IntN(len(words))]+"ville", 1+r.IntN(12), 1+r.IntN(28),
			r.IntN(60), "Key account, renewed "+words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(1e6))
	}
	return append(b, "]}"...)
}

func BenchmarkCompressBody(b *testing.B) {
	body := typicalBody(100)
	zf, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	zd, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	for _, c := range []struct {
		name string
		enc  func(dst, src []byte) []byte
	}{
		{"zstd-fastest", func(dst, src []byte) []byte { return zf.EncodeAll(src, dst[:0]) }},
		{"zstd-default", func(dst, src []byte) []byte { return zd.EncodeAll(src, dst[:0]) }},
		{"s2", func(dst, src []byte) []byte { return s2.Encode(dst[:cap(dst)], src) }},
		{"s2-better", func(dst, src []byte) []byte { return s2.EncodeBetter(dst[:cap(dst)], src) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out []byte
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				out = c.enc(out, body)
			}
			b.ReportMetric(float64(len(body))/float64(len(out)), "ratio")
			b.ReportMetric(float64(len(body)), "body_bytes")
		})
	}
}
