package matcher

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/walhook/walhook/internal/jsonx"
)

// Option limits.
const (
	// DefaultChunkSize is options.chunk_size when it is absent.
	DefaultChunkSize = 100
	// MaxChunkSize is the largest chunk_size accepted.
	MaxChunkSize = 100
	// MaxChunkDelay bounds options.chunk_delay, so that N × chunk_delay stays meaningful.
	MaxChunkDelay = 24 * time.Hour
	// maxListLen bounds every list inside options (events, paths, filter values, keys).
	maxListLen = 1000
	// maxPathDepth bounds the segments of an expand or load-only path, for every stored
	// webhook.
	maxPathDepth = 8
	// MaxExpandDepth bounds the relations of an expand path accepted by the API (Validator):
	// each segment adds one CRM query per rendered chunk and multiplies the rows an item
	// may embed by up to Config.MaxExpandRows; four cover the CRM's real chains
	// (task_relations.contact.primary_account.owner).
	MaxExpandDepth = 4
)

// options is a parsed options object, with JSON types checked but names not yet checked
// against the mapping.
type options struct {
	entities   []entityOptions
	related    *projOptions // options.related_entity; nil when absent
	skipKeys   []string
	chunkSize  int // 0 when absent
	chunkDelay time.Duration
	custom     []string // custom_entity_api_name
}

// projOptions are the expand and load-only paths of one entity (or of the related entity).
type projOptions struct {
	field    string // "options.entity.Contact" or "options.related_entity", for errors
	expand   []string
	loadOnly []string
	loadKey  string // "load-only" or "load_only", as written
}

type entityOptions struct {
	name     string
	proj     projOptions
	filters  []filterSpec
	ops      []jsonx.Member // filter-op, raw
	onChange []string
}

type filterSpec struct {
	field string
	raw   json.RawMessage
}

// parseOptions parses a webhook's options object. Empty input and null mean no options.
func parseOptions(raw json.RawMessage) (*options, error) {
	o := &options{}
	if len(raw) == 0 || jsonx.Kind(raw) == "null" {
		return o, nil
	}
	members, err := decodeObject("options", raw)
	if err != nil {
		return nil, err
	}
	for _, mb := range members {
		field := "options." + mb.Key
		switch mb.Key {
		case "entity":
			err = o.parseEntities(field, mb.Value)
		case "related_entity":
			o.related, err = parseRelated(field, mb.Value)
		case "skip_keys":
			o.skipKeys, err = parseNames(field, mb.Value, "skip key")
		case "chunk_size":
			o.chunkSize, err = parseChunkSize(field, mb.Value)
		case "chunk_delay":
			o.chunkDelay, err = parseChunkDelay(field, mb.Value)
		case "custom_entity_api_name":
			o.custom, err = parseNames(field, mb.Value, "custom entity name")
		default:
			err = Invalidf(field, "unknown option %s (options are entity, related_entity, skip_keys, chunk_size, chunk_delay, custom_entity_api_name)", shown(mb.Key))
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *options) parseEntities(field string, raw json.RawMessage) error {
	members, err := decodeObject(field, raw)
	if err != nil {
		return err
	}
	for _, mb := range members {
		eo, err := parseEntity(join(field, mb.Key), mb.Key, mb.Value)
		if err != nil {
			return err
		}
		o.entities = append(o.entities, eo)
	}
	return nil
}

func parseEntity(field, name string, raw json.RawMessage) (entityOptions, error) {
	eo := entityOptions{name: name, proj: projOptions{field: field}}
	members, err := decodeObject(field, raw)
	if err != nil {
		return eo, err
	}
	for _, mb := range members {
		f := join(field, mb.Key)
		switch mb.Key {
		case "filter":
			eo.filters, err = parseFilter(f, mb.Value)
		case "filter-op":
			eo.ops, err = decodeObject(f, mb.Value)
		case "on-field-change":
			eo.onChange, err = parseNames(f, mb.Value, "field name")
		case "expand", "load-only", "load_only":
			err = eo.proj.set(f, mb.Key, mb.Value)
		default:
			err = Invalidf(f, "unknown option %s (entity options are filter, filter-op, on-field-change, expand, load-only)", shown(mb.Key))
		}
		if err != nil {
			return eo, err
		}
	}
	return eo, nil
}

func parseRelated(field string, raw json.RawMessage) (*projOptions, error) {
	p := &projOptions{field: field}
	members, err := decodeObject(field, raw)
	if err != nil {
		return nil, err
	}
	for _, mb := range members {
		f := join(field, mb.Key)
		switch mb.Key {
		case "expand", "load-only", "load_only":
			err = p.set(f, mb.Key, mb.Value)
		default:
			err = Invalidf(f, "unknown option %s (related_entity options are expand and load-only)", shown(mb.Key))
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// set records an expand or load-only list.
func (p *projOptions) set(field, key string, raw json.RawMessage) error {
	paths, err := parseNames(field, raw, "path")
	if err != nil {
		return err
	}
	for i, path := range paths {
		if strings.Count(path, ".") >= maxPathDepth {
			return Invalidf(fmt.Sprintf("%s[%d]", field, i), "path %s is deeper than %d relations", shown(path), maxPathDepth)
		}
	}
	if key == "expand" {
		p.expand = paths
		return nil
	}
	if p.loadKey != "" {
		return Invalidf(field, "give load-only once (load-only and load_only are the same option)")
	}
	p.loadKey, p.loadOnly = key, paths
	return nil
}

func parseFilter(field string, raw json.RawMessage) ([]filterSpec, error) {
	members, err := decodeObject(field, raw)
	if err != nil {
		return nil, err
	}
	if len(members) > maxListLen {
		return nil, Invalidf(field, "more than %d fields", maxListLen)
	}
	out := make([]filterSpec, len(members))
	for i, mb := range members {
		out[i] = filterSpec{field: mb.Key, raw: mb.Value}
	}
	return out, nil
}

// parseNames decodes a non-empty array of non-empty strings without control characters.
func parseNames(field string, raw json.RawMessage, what string) ([]string, error) {
	names, err := decodeStrings(field, raw)
	if err != nil {
		return nil, err
	}
	if len(names) > maxListLen {
		return nil, Invalidf(field, "more than %d entries", maxListLen)
	}
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case n == "":
			return nil, Invalidf(f, "empty %s", what)
		case len(n) > 200:
			return nil, Invalidf(f, "%s %s is longer than 200 bytes", what, shown(n))
		case strings.ContainsFunc(n, isControl):
			return nil, Invalidf(f, "%s %s contains a control character", what, shown(n))
		}
	}
	return names, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func parseChunkSize(field string, raw json.RawMessage) (int, error) {
	text := strings.TrimSpace(string(raw))
	if k := jsonx.Kind(raw); k != "number" {
		return 0, Invalidf(field, "must be an integer from 1 to %d, got %s", MaxChunkSize, k)
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > MaxChunkSize {
		return 0, Invalidf(field, "must be an integer from 1 to %d, got %s", MaxChunkSize, shown(text))
	}
	return n, nil
}

func parseChunkDelay(field string, raw json.RawMessage) (time.Duration, error) {
	text := strings.TrimSpace(string(raw))
	if k := jsonx.Kind(raw); k != "number" {
		return 0, Invalidf(field, "must be a number of seconds, got %s", k)
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil || math.IsNaN(f):
		return 0, Invalidf(field, "must be a number of seconds, got %s", shown(text))
	case f < 0:
		return 0, Invalidf(field, "must not be negative, got %s", shown(text))
	case f > MaxChunkDelay.Seconds():
		return 0, Invalidf(field, "must be at most %.0f seconds, got %s", MaxChunkDelay.Seconds(), shown(text))
	}
	return time.Duration(f * float64(time.Second)), nil
}

// chunking returns options.chunk_size and chunk_delay of raw with their defaults; stored
// options were validated when written, so errors only yield the defaults.
func chunking(raw json.RawMessage) (int, time.Duration) {
	o, err := parseOptions(raw)
	if err != nil || o.chunkSize == 0 {
		if err != nil {
			return DefaultChunkSize, 0
		}
		return DefaultChunkSize, o.chunkDelay
	}
	return o.chunkSize, o.chunkDelay
}
