package mapping_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema/sample"
)

// TestPipedriveEvents: a Pipedrive webhook subscribes to Create, Update and Delete of the
// entities of its object (never OwnerChanged or transitions, so one row change is one
// event), notes are Comment link events, and an object without an entity gives nothing.
func TestPipedriveEvents(t *testing.T) {
	m, err := mapping.Parse(sample.MappingYAML)
	if err != nil {
		t.Fatal(err)
	}
	all := []event.Action{event.ActionCreate, event.ActionUpdate, event.ActionDelete}
	for _, c := range []struct {
		object  string
		acts    []event.Action
		events  []string
		objects map[string]string
	}{
		{"deal", all, []string{"Opportunity.Create", "Opportunity.Delete", "Opportunity.Update"}, map[string]string{"Opportunity": "deal"}},
		{"activity", []event.Action{event.ActionUpdate}, []string{"Appointment.Update", "Task.Update"},
			map[string]string{"Task": "activity", "Appointment": "activity"}},
		{"note", all, []string{"Appointment.Comment", "Task.Comment"}, map[string]string{}},
		{"note", []event.Action{event.ActionDelete}, nil, map[string]string{}},
		{"stage", all, nil, map[string]string{}},
		{"organization", []event.Action{event.ActionCreate}, []string{"Account.Create"}, map[string]string{"Account": "organization"}},
	} {
		events, objects := m.PipedriveEvents(c.object, c.acts)
		if !cmp.Equal(events, c.events) || !cmp.Equal(objects, c.objects) {
			t.Errorf("PipedriveEvents(%s, %v) = %v, %v; want %v, %v", c.object, c.acts, events, objects, c.events, c.objects)
		}
	}
	events, _ := m.PipedriveEvents("*", all)
	for _, e := range events {
		if a := e[strings.LastIndexByte(e, '.')+1:]; a != "Create" && a != "Update" && a != "Delete" && a != "Comment" {
			t.Errorf("*/* subscribes to %s", e)
		}
	}
}

// TestPipedriveSetting: pipedrive: names an object, "-" opts out, anything else is an error
// naming the entity.
func TestPipedriveSetting(t *testing.T) {
	m := mustParse(t, "entities:\n  Stage: {table: s, key: id, pipedrive: stage}\n  Account: {table: a, key: id, pipedrive: \"-\"}\n")
	if got := m.Entity("Stage").PipedriveObject(); got != "stage" {
		t.Errorf("Stage: %q, want stage", got)
	}
	if got := m.Entity("Account").PipedriveObject(); got != "" {
		t.Errorf("Account set to -: %q, want none", got)
	}
	_, err := mapping.Parse([]byte("entities:\n  Deal: {table: d, key: id, pipedrive: deals}\n"))
	if err == nil || !strings.Contains(err.Error(), `entity Deal: pipedrive: "deals" is not a Pipedrive object`) {
		t.Errorf("pipedrive: deals: %v", err)
	}
}
