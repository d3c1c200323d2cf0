package sender

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/matcher"
)

// format is a payload dialect (DESIGN.md §5, §12): how the rendered items of a chunk, in
// commit order, group into requests, and how one request's body is encoded. It knows
// nothing of delivery ids, headers or signing: the loop derives each request's delivery
// id from its first and last events, and each attempt signs whatever body the format
// produced. Implementations are stateless and safe for concurrent use.
type format interface {
	// requests returns the requests that items are sent as: consecutive spans, in order,
	// covering every item exactly once, each to be one body of at most limit bytes (an
	// item too large for any body is a span alone). cut reports whether limit made more
	// requests than the dialect's grouping alone would (walhook_chunk_splits_total). It
	// must not keep items.
	requests(webhookID string, items []json.RawMessage, limit int) (spans []span, cut bool)
	// appendBody appends to dst the body of one request: items, one span of requests,
	// under delivery id id. It must not keep dst or items.
	appendBody(dst []byte, webhookID string, id uuid.UUID, items []json.RawMessage) []byte
}

// span is a range of a chunk's items: [from, to).
type span struct{ from, to int }

// formats maps Webhook.Format to its payload dialect; "" is Pipeliner's.
type formats map[string]format

func defaultFormats() formats {
	return formats{"": pipelinerChunk{}, matcher.FormatPipeliner: pipelinerChunk{},
		matcher.FormatPipedriveV1: pipedriveEvent{v1: true}, matcher.FormatPipedriveV2: pipedriveEvent{}}
}

// of returns the webhook's format: Pipeliner's for a name it does not hold. A format
// that needs the webhook's own fields (Pipedrive's ids) is bound to it.
func (fs formats) of(wh *matcher.Webhook) format {
	f, ok := fs[wh.Format]
	if !ok {
		f = fs[""]
	}
	if b, ok := f.(interface{ bind(*matcher.Webhook) format }); ok {
		return b.bind(wh)
	}
	return f
}

// pipelinerChunk is Pipeliner's format (DESIGN.md §5): a chunk of up to chunk_size items is
// one request, {"webhook_id": …, "delivery_id": …, "items": […]}, unless its body would
// pass the body bound: then it is split into as few requests as keep each within it.
type pipelinerChunk struct{}

func (pipelinerChunk) requests(webhookID string, items []json.RawMessage, limit int) ([]span, bool) {
	if bodySize(webhookID, items) <= limit {
		return []span{{0, len(items)}}, false
	}
	return splitItems(webhookID, items, limit), true
}

// appendBody embeds the items as rendered. It grows dst to bodySize first, so a nil dst
// is allocated once.
func (pipelinerChunk) appendBody(dst []byte, webhookID string, id uuid.UUID, items []json.RawMessage) []byte {
	dst = slices.Grow(dst, bodySize(webhookID, items))
	dst = append(dst, `{"webhook_id":`...)
	dst = jsonx.AppendString(dst, webhookID)
	dst = append(dst, `,"delivery_id":"`...)
	dst = append(dst, id.String()...)
	dst = append(dst, `","items":[`...)
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it...)
	}
	return append(dst, "]}"...)
}

// bodySize estimates pipelinerChunk's body size.
func bodySize(webhookID string, items []json.RawMessage) int {
	n := 80 + len(webhookID)
	for _, it := range items {
		n += len(it) + 1
	}
	return n
}

// splitItems packs items, in order, into as few consecutive spans as keep each span's
// body (bodySize) within limit; an item too large for any body is a span alone.
func splitItems(webhookID string, items []json.RawMessage, limit int) []span {
	var out []span
	envelope := bodySize(webhookID, nil)
	from, size := 0, envelope
	for i, it := range items {
		n := len(it) + 1
		if i > from && size+n > limit {
			out = append(out, span{from, i})
			from, size = i, envelope
		}
		size += n
	}
	return append(out, span{from, len(items)})
}
