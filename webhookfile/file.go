package webhookfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/walhook/walhook/matcher"
)

// ErrInvalid is wrapped by every error of Parse that is about the file's content (not an
// I/O or context error).
var ErrInvalid = errors.New("invalid webhooks file")

// Checker validates one webhook's create body (a JSON object) for space as the webhook
// API's POST does, and returns the webhook POST would store; its error names the field
// (a *matcher.ValidationError). (*api.API).CheckCreate is one.
type Checker func(ctx context.Context, space string, body []byte) (*matcher.Webhook, error)

// Entry is one validated webhook of a file.
type Entry struct {
	// Key is the webhook's space and name.
	Key Key
	// Line is where the entry starts in the file.
	Line int
	// Webhook is the webhook as the API would store it, Name and Space set.
	Webhook *matcher.Webhook
}

// Key identifies a named webhook: its name is unique among the live webhooks of its
// space.
type Key struct {
	Space, Name string
}

// String returns `name (space s)`, as the plan shows a webhook.
func (k Key) String() string { return fmt.Sprintf("%s (space %s)", k.Name, k.Space) }

// Bounds of a file.
const (
	// MaxFileBytes bounds the file: a thousand webhooks fit many times over.
	MaxFileBytes = 8 << 20
	// maxNodes bounds the YAML nodes visited, aliases followed, against alias bombs.
	maxNodes = 100_000
	// maxDepth bounds the nesting of a value, which also ends a cycle of aliases.
	maxDepth   = 64
	maxSpaceBy = 255
)

// envRef is one ${NAME} reference.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads a webhooks file (see the package doc), expands ${VAR} in its string values
// with lookup, and validates every entry with check. file names the file in messages.
// It reports every invalid entry, each naming the entry and the field, in one error
// wrapping ErrInvalid; values taken from the environment are masked in messages.
func Parse(ctx context.Context, file string, data []byte, lookup func(string) (string, bool), check Checker) ([]Entry, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", file, ErrInvalid, MaxFileBytes)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: %w: not valid UTF-8", file, ErrInvalid)
	}
	p := &parser{file: file, lookup: lookup}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	var defaultSpace string
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], p.deref(root.Content[i+1])
		switch k.Value {
		case "space":
			if defaultSpace, err = p.str(v, "space"); err != nil {
				return nil, p.errorf(k.Line, "%w", err)
			}
		case "webhooks":
			if v.Kind != yaml.SequenceNode {
				return nil, p.errorf(v.Line, "webhooks: must be a list of webhooks")
			}
			list = v
		default:
			return nil, p.errorf(k.Line, "unknown key %q (keys: space, webhooks)", k.Value)
		}
	}
	if list == nil {
		return nil, p.errorf(root.Line, `no "webhooks" key: a file that manages no webhook says "webhooks: []"`)
	}
	var entries []Entry
	var problems []error
	seen := map[Key]int{}
	for i, n := range list.Content {
		e, err := p.entry(ctx, i, p.deref(n), defaultSpace, check)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			problems = append(problems, err)
			continue
		}
		if line, dup := seen[e.Key]; dup {
			problems = append(problems, p.errorf(e.Line, "webhook %q: name: also the name of the webhook at line %d in space %s (a name is unique in its space)",
				e.Key.Name, line, e.Key.Space))
			continue
		}
		seen[e.Key] = e.Line
		entries = append(entries, e)
	}
	if len(problems) > 0 {
		return nil, p.mask(errors.Join(problems...))
	}
	return entries, nil
}

// parser holds what Parse needs while it walks the file.
type parser struct {
	file     string
	lookup   func(string) (string, bool)
	nodes    int
	expanded []string // values taken from the environment, masked in messages
}

// errorf returns "file:line: message", wrapping ErrInvalid and what args wrap.
func (p *parser) errorf(line int, format string, args ...any) error {
	return invalidError{fmt.Errorf("%s:%d: %w", p.file, line, fmt.Errorf(format, args...))}
}

// invalidError is an error about the file's content: it wraps ErrInvalid without saying
// so in every line of a report.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// mask replaces the values taken from the environment in err's message by ********.
func (p *parser) mask(err error) error {
	msg := err.Error()
	for _, v := range p.expanded {
		if len(v) >= 3 {
			msg = strings.ReplaceAll(msg, v, "********")
			if q := strconv.Quote(v); len(q) > 2 {
				msg = strings.ReplaceAll(msg, q[1:len(q)-1], "********")
			}
		}
	}
	if msg == err.Error() {
		return err
	}
	return maskedError{msg: msg, err: err}
}

// maskedError is an error whose message had secrets masked; it still wraps the original
// for errors.Is.
type maskedError struct {
	msg string
	err error
}

func (e maskedError) Error() string { return e.msg }
func (e maskedError) Unwrap() error { return e.err }

// document decodes data, which must hold one YAML document whose top level is a mapping.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: empty file: a file that manages no webhook says \"webhooks: []\"", p.file, ErrInvalid)
		}
		return nil, fmt.Errorf("%s: %w: %w", p.file, ErrInvalid, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w: more than one YAML document", p.file, ErrInvalid)
	}
	if len(doc.Content) != 1 || p.deref(doc.Content[0]).Kind != yaml.MappingNode {
		return nil, p.errorf(doc.Line, "the top level must be a mapping with the keys space (optional) and webhooks")
	}
	return p.deref(doc.Content[0]), nil
}

// deref follows aliases.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// entry validates the i-th webhook of the file.
func (p *parser) entry(ctx context.Context, i int, n *yaml.Node, defaultSpace string, check Checker) (Entry, error) {
	at := fmt.Sprintf("webhook #%d", i+1)
	if n.Kind != yaml.MappingNode {
		return Entry{}, p.errorf(n.Line, "%s: must be a mapping of fields (name, url, events, …)", at)
	}
	e := Entry{Line: n.Line, Key: Key{Space: defaultSpace}}
	var nameSeen bool
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], p.deref(n.Content[j+1])
		switch k.Value {
		case "name":
			name, err := p.str(v, "name")
			if err != nil {
				return Entry{}, p.errorf(v.Line, "%s: %w", at, err)
			}
			e.Key.Name, nameSeen = name, true
		case "space":
			space, err := p.str(v, "space")
			if err != nil {
				return Entry{}, p.errorf(v.Line, "%s: %w", at, err)
			}
			e.Key.Space = space
		}
	}
	if nameSeen && e.Key.Name != "" {
		at = fmt.Sprintf("webhook %q", e.Key.Name)
	}
	switch {
	case !nameSeen || e.Key.Name == "":
		return Entry{}, p.errorf(n.Line, "%s: name: required in a webhooks file (it is the key apply matches stored webhooks by)", at)
	case e.Key.Space == "":
		return Entry{}, p.errorf(n.Line, "%s: space: required (set it on the webhook, or once at the top of the file)", at)
	case len(e.Key.Space) > maxSpaceBy || strings.ContainsFunc(e.Key.Space, func(r rune) bool { return r == '/' || r < 0x20 || r == 0x7f }):
		return Entry{}, p.errorf(n.Line, "%s: space: %q is not a space id (at most %d bytes, no / or control characters)", at, e.Key.Space, maxSpaceBy)
	}
	var body bytes.Buffer
	body.WriteByte('{')
	first := true
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Value == "space" {
			continue // not a field of the create body: the path's space_id
		}
		if !first {
			body.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k.Value)
		body.Write(kb)
		body.WriteByte(':')
		if err := p.json(&body, v, k.Value, 0); err != nil {
			return Entry{}, p.errorf(v.Line, "%s: %w", at, err)
		}
	}
	body.WriteByte('}')
	wh, err := check(ctx, e.Key.Space, body.Bytes())
	if err != nil {
		return Entry{}, p.errorf(n.Line, "%s: %w", at, err)
	}
	wh.Name, wh.Space = e.Key.Name, e.Key.Space
	e.Webhook = wh
	return e, nil
}

// str returns the string value of a scalar, expanded.
func (p *parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", fmt.Errorf("%s: must be a string", field)
	}
	return p.expand(n.Value, field)
}

// json writes n as JSON to b, keys in the file's order, ${VAR} expanded in strings. at
// is n's dotted path from the entry, for messages.
func (p *parser) json(b *bytes.Buffer, n *yaml.Node, at string, depth int) error {
	n = p.deref(n)
	if p.nodes++; p.nodes > maxNodes {
		return fmt.Errorf("%s: more than %d YAML nodes (aliases included)", at, maxNodes)
	}
	if depth > maxDepth {
		return fmt.Errorf("%s: nested more than %d deep (or an alias that contains itself)", at, maxDepth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for j := 0; j+1 < len(n.Content); j += 2 {
			k := p.deref(n.Content[j])
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: a key is not a scalar", at)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			b.Write(kb)
			b.WriteByte(':')
			if err := p.json(b, n.Content[j+1], at+"."+k.Value, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for j, c := range n.Content {
			if j > 0 {
				b.WriteByte(',')
			}
			if err := p.json(b, c, fmt.Sprintf("%s[%d]", at, j), depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		return p.scalar(b, n, at)
	default:
		return fmt.Errorf("%s: unsupported YAML node", at)
	}
	return nil
}

// scalar writes one scalar as JSON, by its resolved YAML tag.
func (p *parser) scalar(b *bytes.Buffer, n *yaml.Node, at string) error {
	var v any
	switch n.Tag {
	case "!!str", "!!timestamp":
		s, err := p.expand(n.Value, at)
		if err != nil {
			return err
		}
		v = s
	case "!!null":
		v = nil
	case "!!bool":
		var x bool
		if err := n.Decode(&x); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		v = x
	case "!!int":
		var x int64
		if err := n.Decode(&x); err != nil {
			return fmt.Errorf("%s: %s is not an integer walhook can read", at, n.Value)
		}
		v = x
	case "!!float":
		var x float64
		if err := n.Decode(&x); err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Errorf("%s: %s is not a finite number", at, n.Value)
		}
		v = x
	default:
		return fmt.Errorf("%s: unsupported YAML tag %s", at, n.Tag)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", at, err)
	}
	b.Write(out)
	return nil
}

// expand replaces each ${NAME} in s by the environment variable NAME; "$${" stands for a
// literal "${". An unset variable is an error naming it and the field.
func (p *parser) expand(s, at string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			out.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("%s: unterminated ${ (write $${ for a literal ${)", at)
			}
			name := s[i+2 : i+end]
			if !envName.MatchString(name) {
				return "", fmt.Errorf("%s: ${%s} does not name an environment variable", at, name)
			}
			v, ok := p.lookup(name)
			if !ok {
				return "", fmt.Errorf("%s: environment variable %s is not set", at, name)
			}
			p.expanded = append(p.expanded, v)
			out.WriteString(v)
			i += end + 1
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	return out.String(), nil
}
