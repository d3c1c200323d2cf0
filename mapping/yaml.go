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
}

type entityYAML struct {
	Table         string                   `yaml:"table"`
	Key           string                   `yaml:"key"`
	Owner         string                   `yaml:"owner"`
	SoftDelete    *conditionYAML           `yaml:"soft_delete"`
	Fields        map[string]string        `yaml:"fields"`
	Exclude       []string                 `yaml:"exclude"`
	Events        *bool                    `yaml:"events"`
	Custom        bool                     `yaml:"custom"`
	Discriminator *conditionYAML           `yaml:"discriminator"`
	Transitions   []*transitionYAML        `yaml:"transitions"`
	Relations     map[string]*relationYAML `yaml:"relations"`
	Pipedrive     string                   `yaml:"pipedrive"`
}

type conditionYAML struct {
	Field string  `yaml:"field"`
	Value scalars `yaml:"value"`
}

type transitionYAML struct {
	Action string  `yaml:"action"`
	Field  string  `yaml:"field"`
	To     scalars `yaml:"to"`
	From   string  `yaml:"from"`
}

type relationYAML struct {
	Entity string `yaml:"entity"`
	Column string `yaml:"column"`
	Many   bool   `yaml:"many"`
}

type linkYAML struct {
	Table   string          `yaml:"table"`
	Action  string          `yaml:"action"`
	Parent  parentYAML      `yaml:"parent"`
	Related linkRelatedYAML `yaml:"related"`
}

type parentYAML struct {
	Entity    string            `yaml:"entity"`
	Field     string            `yaml:"field"`
	TypeField string            `yaml:"type_field"`
	Types     map[string]string `yaml:"types"`
}

type linkRelatedYAML struct {
	Entity string `yaml:"entity"`
	Field  string `yaml:"field"`
}

// scalars is a condition value: one YAML scalar or a list of them, kept as canonical text.
// Booleans become "true"/"false" whatever their spelling; everything else keeps the text
// as written (so numbers should be written as PostgreSQL prints them).
type scalars []string

// UnmarshalYAML implements yaml.Unmarshaler. Its errors are *yaml.TypeError so that the
// decoder goes on and reports every problem, not just the first.
func (s *scalars) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := canonical(n)
		if err != nil {
			return err
		}
		*s = scalars{v}
		return nil
	case yaml.SequenceNode:
		out := make(scalars, 0, len(n.Content))
		for _, c := range n.Content {
			c = resolveAlias(c)
			if c.Kind != yaml.ScalarNode {
				return typeErrorf(c, "want a scalar in the list")
			}
			v, err := canonical(c)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		*s = out
		return nil
	default:
		return typeErrorf(n, "want a scalar or a list of scalars")
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func canonical(n *yaml.Node) (string, error) {
	switch n.ShortTag() {
	case "!!null":
		return "", typeErrorf(n, "null is not a value")
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
		return nil, nil, describeDecodeError(err, newSections(root.Content[0]))
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

// describeDecodeError turns yaml.v3's messages ("line 5: field tabel not found in type
// mapping.entityYAML") into problems naming the entity and the key.
func describeDecodeError(err error, secs sections) []string {
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
		text := sm[2] + " (line " + sm[1] + ")"
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
