package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/walhook/walhook/schema/sample"
)

// The YAML shape; schema/sample/mapping.yaml documents it for users. Unknown keys are
// errors (KnownFields), so a typo never silently drops a setting.
type fileYAML struct {
	Entities map[string]*entityYAML `yaml:"entities"`
	Links    []*linkYAML            `yaml:"links"`
	Actions  []name                 `yaml:"actions"`
}

type entityYAML struct {
	Table         names                    `yaml:"table"`
	Key           names                    `yaml:"key"`
	Owner         name                     `yaml:"owner"`
	SoftDelete    conditionsYAML           `yaml:"soft_delete"`
	Fields        map[string]name          `yaml:"fields"`
	Exclude       []name                   `yaml:"exclude"`
	Events        *bool                    `yaml:"events"`
	Custom        bool                     `yaml:"custom"`
	Discriminator conditionsYAML           `yaml:"discriminator"`
	Transitions   []*transitionYAML        `yaml:"transitions"`
	Relations     map[string]*relationYAML `yaml:"relations"`
	Pipedrive     string                   `yaml:"pipedrive"`
}

// conditionsYAML is one condition ({field, value}) or a list of them, all of which must
// hold; nil when absent.
type conditionsYAML []*clauseYAML

type clauseYAML struct {
	Field   name    `yaml:"field"`
	Value   scalars `yaml:"value"`
	Null    bool    `yaml:"is_null"`
	NotNull bool    `yaml:"not_null"`
}

type transitionYAML struct {
	Action name           `yaml:"action"`
	Field  name           `yaml:"field"`
	To     scalars        `yaml:"to"`
	From   scalars        `yaml:"from"`
	When   conditionsYAML `yaml:"when"`
	Lookup *lookupYAML    `yaml:"lookup"`
	Via    *viaYAML       `yaml:"via"`
}

type viaYAML struct {
	Entity name `yaml:"entity"`
	Field  name `yaml:"field"`
}

type lookupYAML struct {
	Table name           `yaml:"table"`
	Key   name           `yaml:"key"`
	When  conditionsYAML `yaml:"when"`
}

type relationYAML struct {
	Entity name           `yaml:"entity"`
	Column name           `yaml:"column"`
	Many   bool           `yaml:"many"`
	Where  conditionsYAML `yaml:"where"`
}

type linkYAML struct {
	Table      name            `yaml:"table"`
	Action     name            `yaml:"action"`
	Parent     parentYAML      `yaml:"parent"`
	Related    linkRelatedYAML `yaml:"related"`
	When       conditionsYAML  `yaml:"when"`
	SoftDelete conditionsYAML  `yaml:"soft_delete"`
}

type parentYAML struct {
	Entity    name            `yaml:"entity"`
	Field     name            `yaml:"field"`
	TypeField name            `yaml:"type_field"`
	Types     map[string]name `yaml:"types"`
	OneOf     map[string]name `yaml:"one_of"`
}

type linkRelatedYAML struct {
	Entity name `yaml:"entity"`
	Field  name `yaml:"field"`
}

// name is one identifier (a table, a column, an entity, an action). A list or a mapping
// where one name is expected is an error naming the shape wanted; describeDecodeError adds
// the fix for the key at fault ("composite keys are written as a list under key:").
type name string

// errNotOneName marks the errors of name.UnmarshalYAML, for describeDecodeError.
const errNotOneName = "want one name here"

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *name) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			*s = ""
			return nil
		}
		*s = name(n.Value)
		return nil
	case yaml.SequenceNode:
		return typeErrorf(n, "%s, got a list%s", errNotOneName, colMark(n))
	default:
		return typeErrorf(n, "%s, got a mapping%s", errNotOneName, colMark(n))
	}
}

// colMark tags a shape error with the node's column, so that describeDecodeError finds
// the key holding it when several values share a line; describeShape removes the tag.
func colMark(n *yaml.Node) string { return fmt.Sprintf(" @col%d", n.Column) }

var colMarkRE = regexp.MustCompile(` @col(\d+)$`)

// names is one name or a list of them (a composite key).
type names []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *names) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.ScalarNode:
		*s = names{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(names, 0, len(n.Content))
		for _, c := range n.Content {
			c = resolveAlias(c)
			if c.Kind != yaml.ScalarNode {
				return typeErrorf(c, "want a column name in the list")
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	default:
		return typeErrorf(n, "%s, got a mapping%s", errNotOneName, colMark(n))
	}
}

// UnmarshalYAML implements yaml.Unmarshaler: one condition or a list of conditions.
func (c *conditionsYAML) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		var one clauseYAML
		if err := n.Decode(&one); err != nil {
			return err
		}
		*c = conditionsYAML{&one}
		return nil
	case yaml.SequenceNode:
		var list []*clauseYAML
		if err := n.Decode(&list); err != nil {
			return err
		}
		*c = list
		if len(list) == 0 {
			*c = conditionsYAML{}
		}
		return nil
	default:
		return typeErrorf(n, "want a condition {field: f, value: v} or a list of conditions")
	}
}

// scalars is a condition value: one YAML scalar or a list of them, kept as canonical text.
// Booleans become "true"/"false" whatever their spelling; everything else keeps the text
// as written (so numbers should be written as PostgreSQL prints them). A YAML null (~,
// null) stands for SQL NULL and sets hasNull.
type scalars struct {
	vals    []string
	hasNull bool
	set     bool
}

// UnmarshalYAML implements yaml.Unmarshaler. Its errors are *yaml.TypeError so that the
// decoder goes on and reports every problem, not just the first.
func (s *scalars) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	s.set = true
	switch n.Kind {
	case yaml.ScalarNode:
		return s.add(n)
	case yaml.SequenceNode:
		s.vals = []string{}
		for _, c := range n.Content {
			c = resolveAlias(c)
			if c.Kind != yaml.ScalarNode {
				return typeErrorf(c, "want a scalar in the list")
			}
			if err := s.add(c); err != nil {
				return err
			}
		}
		return nil
	default:
		return typeErrorf(n, "want a scalar or a list of scalars")
	}
}

func (s *scalars) add(n *yaml.Node) error {
	if n.ShortTag() == "!!null" {
		s.hasNull = true
		return nil
	}
	v, err := canonical(n)
	if err != nil {
		return err
	}
	s.vals = append(s.vals, v)
	return nil
}

func (s scalars) empty() bool { return len(s.vals) == 0 && !s.hasNull }

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func canonical(n *yaml.Node) (string, error) {
	switch n.ShortTag() {
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return "", typeErrorf(n, "bad boolean %q", n.Value)
		}
		return strconv.FormatBool(b), nil
	default:
		return n.Value, nil
	}
}

func typeErrorf(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

// Parse reads a mapping from YAML and checks its internal consistency: every problem is
// reported in one *ValidationError (wrapping ErrInvalid). The result still needs Validate
// against the live schema before use.
func Parse(data []byte) (*Mapping, error) {
	return parse(data, "")
}

// Load reads the mapping file at path, or the bundled sample CRM mapping when path is "".
func Load(path string) (*Mapping, error) {
	if path == "" {
		return parse(sample.MappingYAML, "bundled sample")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: read %s: %w", path, err)
	}
	return parse(data, path)
}

// Default returns a fresh copy of the bundled sample CRM mapping (schema/sample). It panics
// only if the embedded file is broken, which a test rules out.
func Default() *Mapping {
	m, err := Load("")
	if err != nil {
		panic(err)
	}
	return m
}

func parse(data []byte, source string) (m *Mapping, err error) {
	defer func() {
		// Outside bytes are untrusted: a decoder panic becomes an error, never a crash.
		if r := recover(); r != nil {
			m, err = nil, &ValidationError{Source: source, Problems: []string{fmt.Sprintf("yaml: decoder failure: %v", r)}}
		}
	}()
	f, order, probs := decode(data)
	if len(probs) > 0 {
		return nil, &ValidationError{Source: source, Problems: probs}
	}
	m, p := build(f, order)
	if err := p.err(source); err != nil {
		return nil, err
	}
	return m, nil
}

// decode parses data strictly into a fileYAML and returns the entity names in file order,
// or the problems found, each attributed to its entity or link where the line tells.
func decode(data []byte) (*fileYAML, []string, []string) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) == 0 {
		return nil, nil, []string{"empty document"}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, nil, []string{fmt.Sprintf("line %d: the document must be a mapping with entities and links", root.Content[0].Line)}
	}
	var f fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, nil, describeDecodeError(err, newSections(root.Content[0]), shapeKeys(root.Content[0]))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, []string{"the file must hold a single YAML document"}
	}
	return &f, entityOrder(root.Content[0]), nil
}

// entityOrder returns the keys of the top-level "entities" mapping in file order.
func entityOrder(top *yaml.Node) []string {
	var names []string
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "entities" {
			continue
		}
		ents := resolveAlias(top.Content[i+1])
		for j := 0; j+1 < len(ents.Content); j += 2 {
			names = append(names, ents.Content[j].Value)
		}
	}
	return names
}

// section is where an entity or link starts in the file, to attribute decoder errors.
type section struct {
	line  int
	label string
}

type sections []section

func newSections(top *yaml.Node) sections {
	var s sections
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], resolveAlias(top.Content[i+1])
		s = append(s, section{line: key.Line})
		switch key.Value {
		case "entities":
			for j := 0; j+1 < len(val.Content); j += 2 {
				s = append(s, section{val.Content[j].Line, "entity " + val.Content[j].Value})
			}
		case "links":
			for j, item := range val.Content {
				s = append(s, section{item.Line, linkLabel(j, linkTable(item))})
			}
		}
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].line < s[j].line })
	return s
}

func linkTable(item *yaml.Node) string {
	item = resolveAlias(item)
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "table" {
			return item.Content[i+1].Value
		}
	}
	return ""
}

// at returns the label of the section holding line, or "".
func (s sections) at(line int) string {
	label := ""
	for _, sec := range s {
		if sec.line > line {
			break
		}
		label = sec.label
	}
	return label
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// shapeKeys maps the line of each non-scalar value to the key that holds it, so that a shape
// error ("want one name here, got a list") can name the key and its fix.
func shapeKeys(n *yaml.Node) map[int]string {
	out := map[int]string{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		n = resolveAlias(n)
		if depth > 50 {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], resolveAlias(n.Content[i+1])
				if v.Kind != yaml.ScalarNode {
					out[v.Line] = k.Value
					out[v.Line<<16|v.Column] = k.Value
				} else if _, ok := out[-v.Line]; !ok {
					out[-v.Line] = k.Value // a scalar where a list was expected
				}
				walk(v, depth+1)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		}
	}
	walk(n, 0)
	return out
}

// shapeHints tells, per key, how to write what a list or a mapping in its place was
// probably meant to say.
var shapeHints = map[string]string{
	"key":        "composite keys are written as a list under `key:` (key: [account_id, contact_id])",
	"field":      "one column per condition; a condition over several columns is a list of conditions under the key (discriminator: [{field: a, value: x}, {field: b, value: y}])",
	"table":      "one table, or a list of tables for an entity over several (table: [crm.meetings, crm.calls])",
	"entity":     "a link names one parent entity; a polymorphic parent is written with type_field, field and types",
	"action":     "one action per transition; write one transition per action",
	"owner":      "the owner is one field",
	"type_field": "the type of a polymorphic parent is one column",
	"column":     "a relation follows one column",
}

var cannotRE = regexp.MustCompile(`^cannot unmarshal !!(seq|map|str|int|bool|float) .*into (\S+)$`)

// describeShape rewrites a shape error at line into a problem naming the key and the fix.
func describeShape(msg string, line int, keys map[int]string) string {
	if strings.HasPrefix(msg, errNotOneName) {
		key := keys[line]
		if m := colMarkRE.FindStringSubmatch(msg); m != nil {
			col, _ := strconv.Atoi(m[1])
			if k, ok := keys[line<<16|col]; ok {
				key = k
			}
			msg = msg[:len(msg)-len(m[0])]
		}
		hint := shapeHints[key]
		if hint == "" {
			hint = "write one name"
		}
		if key != "" {
			return fmt.Sprintf("%s: %s; %s", key, msg, hint)
		}
		return msg + "; " + hint
	}
	if m := cannotRE.FindStringSubmatch(msg); m != nil {
		key := keys[line]
		if key == "" {
			key = keys[-line]
		}
		switch {
		case strings.HasPrefix(m[2], "[]") && key != "":
			return fmt.Sprintf("%s: want a list, got a single value; write %s: [value] (or a list of several)", key, key)
		case strings.HasPrefix(m[2], "[]"):
			return "want a list, got a single value"
		case strings.HasPrefix(m[2], "map[") && key != "":
			return fmt.Sprintf("%s: want a mapping of name: value pairs, got a %s", key, kindWord(m[1]))
		case key != "":
			return fmt.Sprintf("%s: want %s, got a %s", key, kindWord2(m[2]), kindWord(m[1]))
		}
	}
	return msg
}

func kindWord(tag string) string {
	switch tag {
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return "scalar"
}

func kindWord2(goType string) string {
	switch {
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "YAML"):
		return "a mapping"
	}
	return "a scalar"
}

// describeDecodeError turns yaml.v3's messages ("line 5: field tabel not found in type
// mapping.entityYAML") into problems naming the entity and the key.
func describeDecodeError(err error, secs sections, keys map[int]string) []string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, 0, len(te.Errors))
	for _, msg := range te.Errors {
		sm := lineRE.FindStringSubmatch(msg)
		if sm == nil {
			out = append(out, msg)
			continue
		}
		line, _ := strconv.Atoi(sm[1])
		text := describeShape(sm[2], line, keys) + " (line " + sm[1] + ")"
		if um := unknownRE.FindStringSubmatch(sm[2]); um != nil {
			text = fmt.Sprintf("unknown key %q (line %s)", um[1], sm[1])
		}
		if label := secs.at(line); label != "" {
			text = label + ": " + text
		}
		out = append(out, text)
	}
	return out
}

func linkLabel(i int, table string) string {
	if table != "" {
		return "link " + table
	}
	return fmt.Sprintf("links[%d]", i)
}
