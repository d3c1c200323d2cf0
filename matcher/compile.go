package matcher

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// subscription is a webhook compiled once for matching and rendering.
type subscription struct {
	wh *Webhook
	// Event patterns, deduplicated: all for "*", else wild holds the prefixes of
	// "<Entity>.*" and exact the other names (minus those a wildcard covers).
	all    bool
	wild   []string
	exact  []string
	inWild []string // inbound prefixes ("webhook.salesforce."), see inbound.go
	custom []string // options.custom_entity_api_name
	skip   []string // options.skip_keys
	ents   map[event.EntityName]*entitySub
	// related maps a related entity's name to its projection (related_entity options).
	related map[string]*proj
}

// entitySub holds options.entity.<Entity>.
type entitySub struct {
	filters  []filter
	onChange []string
	// onChangePaths are on-field-change entries that reach into json values (name.en_US).
	onChangePaths []jsonField
	proj          *proj
}

// jsonField is a dotted field: a json/jsonb field and the path into its value.
type jsonField struct {
	field string
	path  []string
}

// splitField splits a dotted filter or on-field-change name into the entity's field and a
// path into its json value ("name.en_US" → name, [en_US]); a name that is a field as a
// whole, or has no dot, has no path.
func splitField(e *mapping.Entity, name string) (string, []string) {
	if e.HasField(name) || !strings.Contains(name, ".") {
		return name, nil
	}
	parts := strings.Split(name, ".")
	return parts[0], parts[1:]
}

// coversName reports whether the event patterns cover the event name, custom entity
// names aside.
func (s *subscription) coversName(name string) bool {
	if s.all || slices.Contains(s.exact, name) {
		return true
	}
	prefix, _, _ := strings.Cut(name, ".")
	return slices.Contains(s.wild, prefix)
}

// Validator checks webhook subscriptions (events and options) against a mapping. It is
// immutable and safe for concurrent use.
type Validator struct {
	cat *catalog
}

// NewValidator returns a Validator for m, which must have been validated against the live
// schema (mapping.Validate) so that fields and relations are known.
func NewValidator(m *mapping.Mapping) *Validator {
	return &Validator{cat: newCatalog(m)}
}

// Check validates events and options as the API receives them. The error, if any, is a
// *ValidationError (wrapping ErrInvalid) naming the first offending field and value, such as
// `options.entity.Contact.filter-op.email1: unknown operator "equals" (operators: eq, …)`.
func (v *Validator) Check(events []string, options json.RawMessage) error {
	_, err := compile(v.cat, &Webhook{Events: events, Options: options}, true)
	return err
}

// compile checks and compiles a webhook's events and options. strict adds the checks that
// only webhooks received by the API must pass (cyclic and too deep expand paths, see
// checkExpandPath); stored webhooks compile without them, so that one stored before they
// existed keeps its deliveries, within the render bounds.
func compile(c *catalog, wh *Webhook, strict bool) (*subscription, error) {
	s := &subscription{wh: wh}
	if err := s.compileEvents(c, wh.Events); err != nil {
		return nil, err
	}
	o, err := parseOptions(wh.Options)
	if err != nil {
		return nil, err
	}
	s.skip = o.skipKeys
	if err := s.checkInboundOptions(o); err != nil {
		return nil, err
	}
	if err := s.compileCustom(c, o); err != nil {
		return nil, err
	}
	for _, eo := range o.entities {
		if err := s.compileEntity(c, &eo, strict); err != nil {
			return nil, err
		}
	}
	if o.related != nil {
		if err := s.compileRelated(c, o.related, strict); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *subscription) compileEvents(c *catalog, events []string) error {
	if len(events) == 0 {
		return Invalidf("events", "must list at least one event")
	}
	if len(events) > maxListLen {
		return Invalidf("events", "more than %d events", maxListLen)
	}
	for i, name := range events {
		if event.IsInboundName(name) {
			if err := s.compileInbound(fmt.Sprintf("events[%d]", i), name); err != nil {
				return err
			}
			continue
		}
		if !c.events[name] {
			return Invalidf(fmt.Sprintf("events[%d]", i), "%s", c.unknownEvent(name))
		}
		switch prefix, action, _ := strings.Cut(name, "."); {
		case name == "*":
			s.all = true
		case action == "*":
			if !slices.Contains(s.wild, prefix) {
				s.wild = append(s.wild, prefix)
			}
		default:
			if !slices.Contains(s.exact, name) {
				s.exact = append(s.exact, name)
			}
		}
	}
	if s.all {
		s.wild, s.exact = nil, nil
	}
	s.exact = slices.DeleteFunc(s.exact, func(name string) bool {
		prefix, _, _ := strings.Cut(name, ".")
		return slices.Contains(s.wild, prefix)
	})
	s.finishInbound()
	return nil
}

func (s *subscription) compileCustom(c *catalog, o *options) error {
	for i, name := range o.custom {
		if !slices.Contains(c.customs, name) {
			return Invalidf(fmt.Sprintf("options.custom_entity_api_name[%d]", i),
				"%s is not a custom entity (custom entities: %s)", shown(name), listOrNone(c.customs))
		}
		if !slices.Contains(s.custom, name) {
			s.custom = append(s.custom, name)
		}
	}
	if len(s.custom) > 0 {
		return nil
	}
	// "*" does not need them: without names it simply receives no custom entity events.
	for i, name := range s.wh.Events {
		if strings.HasPrefix(name, mapping.CustomEntityPrefix+".") {
			return Invalidf("options.custom_entity_api_name",
				"required by event %s (events[%d]): name the custom entities to receive (%s)", shown(name), i, listOrNone(c.customs))
		}
	}
	return nil
}

func (s *subscription) compileEntity(c *catalog, eo *entityOptions, strict bool) error {
	field := eo.proj.field
	e := c.m.Entity(eo.name)
	switch {
	case e == nil:
		return Invalidf(field, "unknown entity %s", shown(eo.name))
	case !e.Events:
		return Invalidf(field, "entity %s raises no events; options for a related entity go under options.related_entity", e.Name)
	case e.Custom && !slices.Contains(s.custom, e.Name):
		return Invalidf(field, "options for custom entity %s need %s in options.custom_entity_api_name", e.Name, shown(e.Name))
	}
	es := &entitySub{}
	if err := es.compileFilters(e, field, eo); err != nil {
		return err
	}
	for i, name := range eo.onChange {
		head, path := splitField(e, name)
		if !e.HasField(head) {
			return Invalidf(fmt.Sprintf("%s.on-field-change[%d]", field, i), "unknown field %s of %s", shown(name), e.Name)
		}
		if path != nil {
			es.onChangePaths = append(es.onChangePaths, jsonField{field: head, path: path})
			continue
		}
		es.onChange = append(es.onChange, name)
	}
	p, err := compileProj(c.m, e, &eo.proj, strict)
	if err != nil {
		return err
	}
	es.proj = p
	if s.ents == nil {
		s.ents = map[event.EntityName]*entitySub{}
	}
	s.ents[event.EntityName(e.Name)] = es
	return nil
}

func (es *entitySub) compileFilters(e *mapping.Entity, field string, eo *entityOptions) error {
	ops := map[string]op{}
	spelled := map[string]string{}
	for _, mb := range eo.ops {
		f := field + ".filter-op." + mb.Key
		name, err := decodeString(f, mb.Value)
		if err != nil {
			return err
		}
		o, ok := parseOp(name)
		if !ok {
			return Invalidf(f, "unknown operator %s (operators: %s)", shown(name), strings.Join(opNames, ", "))
		}
		if !slices.ContainsFunc(eo.filters, func(fs filterSpec) bool { return fs.field == mb.Key }) {
			return Invalidf(f, "field %s has no value in %s.filter", shown(mb.Key), field)
		}
		ops[mb.Key], spelled[mb.Key] = o, name
	}
	for _, fs := range eo.filters {
		f := field + ".filter." + fs.field
		head, path := splitField(e, fs.field)
		if !e.HasField(head) {
			return Invalidf(f, "unknown field %s of %s", shown(fs.field), e.Name)
		}
		flt, err := compileFilter(f, head, fs.raw, ops[fs.field])
		if err != nil {
			return err
		}
		flt.path, flt.opName = path, spelled[fs.field]
		es.filters = append(es.filters, flt)
	}
	return nil
}

// compileRelated compiles related_entity for every entity that can be related to the
// subscribed link events. Each path must resolve on at least one of them; it applies to
// those it resolves on, and (strict) must not be cyclic or too deep on any of them.
func (s *subscription) compileRelated(c *catalog, po *projOptions, strict bool) error {
	cands := c.relatedEntities(s)
	s.related = map[string]*proj{}
	firstErr := make([]error, len(po.expand)+len(po.loadOnly))
	resolved := make([]bool, len(firstErr))
	for _, name := range cands {
		e := c.m.Entity(name)
		if e == nil {
			continue
		}
		// Keep, for this entity, the paths that resolve on it.
		sub := projOptions{field: po.field, loadKey: po.loadKey}
		for i, path := range po.expand {
			if _, err := compileProj(c.m, e, &projOptions{field: po.field, expand: []string{path}}, false); err != nil {
				firstErr[i] = cmpErr(firstErr[i], err)
				continue
			}
			if strict {
				if err := checkExpandPath(c.m, e, fmt.Sprintf("%s.expand[%d]", po.field, i), path); err != nil {
					return err
				}
			}
			resolved[i] = true
			sub.expand = append(sub.expand, path)
		}
		for j, path := range po.loadOnly {
			i := len(po.expand) + j
			trial := projOptions{field: po.field, expand: sub.expand, loadOnly: []string{path}, loadKey: po.loadKey}
			if _, err := compileProj(c.m, e, &trial, false); err != nil {
				firstErr[i] = cmpErr(firstErr[i], err)
				continue
			}
			resolved[i] = true
			sub.loadOnly = append(sub.loadOnly, path)
		}
		p, err := compileProj(c.m, e, &sub, false)
		if err != nil {
			return err
		}
		s.related[name] = p
	}
	for i, ok := range resolved {
		if !ok && firstErr[i] != nil {
			return relatedError(po, i, cands, firstErr[i])
		}
	}
	return nil
}

func cmpErr(have, err error) error {
	if have != nil {
		return have
	}
	return err
}

// relatedError renames a per-entity error to the path's own index and names the entities
// tried.
func relatedError(po *projOptions, i int, cands []string, err error) error {
	key, path := "expand", ""
	if i < len(po.expand) {
		path = po.expand[i]
	} else {
		i -= len(po.expand)
		key, path = po.loadKey, po.loadOnly[i]
	}
	reason := err.Error()
	if ve, ok := asValidation(err); ok {
		reason = ve.Reason
	}
	return Invalidf(fmt.Sprintf("%s.%s[%d]", po.field, key, i),
		"%s does not resolve on any related entity of the subscribed events (%s): %s", shown(path), listOrNone(cands), reason)
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
