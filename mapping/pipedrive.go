package mapping

import (
	"slices"

	"github.com/walhook/walhook/event"
)

// PipedriveObjects are the objects of Pipedrive's webhooks (their event_object, DESIGN.md
// §12), sorted.
var PipedriveObjects = []string{"activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user"}

// PipedriveNone, as an entity's pipedrive setting, says the entity is no Pipedrive object
// even where its name has a default.
const PipedriveNone = "-"

// pipedriveDefaults are the Pipedrive objects of Pipeliner's entity names (DESIGN.md §12).
// Notes are not here: they are the comments of link events (PipedriveEvents).
var pipedriveDefaults = map[string]string{
	"Account":     "organization",
	"Contact":     "person",
	"Opportunity": "deal",
	"Lead":        "lead",
	"Task":        "activity",
	"Appointment": "activity",
	"Product":     "product",
}

// buildPipedrive checks an entity's pipedrive setting.
func buildPipedrive(e *Entity, obj string, p *problems) {
	if obj == "" {
		return
	}
	e.Pipedrive = obj
	switch {
	case obj == PipedriveNone:
	case !slices.Contains(PipedriveObjects, obj):
		p.addf("entity %s: pipedrive: %q is not a Pipedrive object (one of %v, or %q for none)", e.Name, obj, PipedriveObjects, PipedriveNone)
	case !e.Events:
		p.addf("entity %s: pipedrive: a lookup entity (events: false) raises nothing to deliver as %s", e.Name, obj)
	case e.Custom:
		p.addf("entity %s: pipedrive: custom entities are not delivered to Pipedrive webhooks", e.Name)
	}
}

// PipedriveObject returns the entity's Pipedrive object: its pipedrive setting, else the
// default for its name (Account organization, Contact person, Opportunity deal, Lead lead,
// Task and Appointment activity, Product product). It is "" for none: lookup and custom
// entities, an entity set to "-", and other names without a setting.
func (e *Entity) PipedriveObject() string {
	if !e.Events || e.Custom || e.Pipedrive == PipedriveNone {
		return ""
	}
	if e.Pipedrive != "" {
		return e.Pipedrive
	}
	return pipedriveDefaults[e.Name]
}

// PipedriveEvents returns the event names that a Pipedrive webhook on object ("*": every
// object the mapping provides) and the walhook actions acts (Create, Update, Delete)
// subscribes to, sorted, and the Pipedrive object of each entity among them. One row
// change raises exactly one of an entity's Create, Update and Delete (an UPDATE raises
// Update alongside its OwnerChanged and transitions, or Delete alone for a soft delete),
// so a Pipedrive webhook gets one event per row change. Notes are the related rows of
// link events with action Comment (Task.Comment): raised by INSERT only, so they come with
// Create alone. No events means the mapping cannot provide the object for those actions.
func (m *Mapping) PipedriveEvents(object string, acts []event.Action) (events []string, objects map[string]string) {
	objects = map[string]string{}
	set := map[string]bool{}
	for _, e := range m.Entities {
		obj := e.PipedriveObject()
		if obj == "" || (object != "*" && obj != object) {
			continue
		}
		for _, a := range acts {
			set[e.EventName(a)] = true
		}
		objects[e.Name] = obj
	}
	if (object == "*" || object == "note") && slices.Contains(acts, event.ActionCreate) {
		for _, l := range m.Links {
			if l.Action != event.ActionComment {
				continue
			}
			for _, name := range l.parentEntities() {
				if e := m.byName[name]; e != nil && e.Events && !e.Custom {
					set[e.EventName(l.Action)] = true
				}
			}
		}
	}
	for name := range set {
		events = append(events, name)
	}
	slices.Sort(events)
	return events, objects
}
