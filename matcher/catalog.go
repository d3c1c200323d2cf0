package matcher

import (
	"slices"
	"strings"

	"github.com/walhook/walhook/mapping"
)

// catalog is what validation needs to know about a mapping, computed once per mapping.
type catalog struct {
	m *mapping.Mapping
	// events holds every event name the mapping can raise, its "<Entity>.*" wildcards,
	// and "*".
	events map[string]bool
	// actions lists, per event-name prefix ("Account", "CustomEntity"), its actions.
	actions map[string][]string
	// customs are the custom entities' names, sorted.
	customs []string
	// links lists, per link event name ("Task.Comment"), the related entity names.
	links map[string][]string
}

func newCatalog(m *mapping.Mapping) *catalog {
	c := &catalog{m: m, events: map[string]bool{"*": true}, actions: map[string][]string{}, links: map[string][]string{}}
	for _, name := range m.EventNames() {
		c.events[name] = true
		prefix, action, _ := strings.Cut(name, ".")
		if action != "*" {
			c.actions[prefix] = append(c.actions[prefix], action)
		}
	}
	for _, e := range m.Entities {
		if e.Custom && e.Events {
			c.customs = append(c.customs, e.Name)
		}
	}
	slices.Sort(c.customs)
	for _, l := range m.Links {
		parents := []string{l.Parent.Entity}
		if l.Parent.Entity == "" {
			parents = parents[:0]
			for _, p := range l.Parent.Types {
				parents = append(parents, p)
			}
		}
		for _, p := range parents {
			e := m.Entity(p)
			if e == nil || !e.Events {
				continue
			}
			name := e.EventName(l.Action)
			if !slices.Contains(c.links[name], l.Related.Entity) {
				c.links[name] = append(c.links[name], l.Related.Entity)
			}
		}
	}
	return c
}

// unknownEvent explains why name is not an event the mapping raises.
func (c *catalog) unknownEvent(name string) string {
	prefix, action, ok := strings.Cut(name, ".")
	acts, known := c.actions[prefix]
	switch {
	case !ok:
		return "unknown event " + shown(name) + ` (want "<Entity>.<Action>", "<Entity>.*" or "*")`
	case !known && c.m.Entity(prefix) != nil && c.m.Entity(prefix).Custom:
		return "unknown event " + shown(name) + ": custom entities raise CustomEntity.<Action>; name " +
			prefix + " in options.custom_entity_api_name"
	case !known:
		return "unknown event " + shown(name) + ": no entity " + shown(prefix) + " raises events"
	}
	return "unknown event " + shown(name) + ": " + prefix + " raises " + strings.Join(acts, ", ") +
		", not " + shown(action)
}

// relatedEntities returns the related entities of the link events that patterns match;
// when they match none, every link's related entity (related_entity options then apply to
// nothing, but must still make sense).
func (c *catalog) relatedEntities(s *subscription) []string {
	var out []string
	for name, rel := range c.links {
		if !s.coversName(name) {
			continue
		}
		for _, r := range rel {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		for _, rel := range c.links {
			for _, r := range rel {
				if !slices.Contains(out, r) {
					out = append(out, r)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
