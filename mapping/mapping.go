// Package mapping describes which tables of an existing CRM database are which CRM entities,
// and how their row changes become entity events (DESIGN.md §3).
//
// A Mapping is loaded from YAML (Load, Parse), checked for internal consistency at load
// time, and checked against the live database schema with Validate, which names every
// unknown table and column in one error, and derives the relations followed by expand from
// foreign keys. Validate is called once, before the Mapping is shared; from then on a
// Mapping is immutable and safe for concurrent use. Identifiers are exact-case: the table
// "crm.SalesUnit" and the column "closingDate" are written as they are in the catalog,
// without SQL quotes.
//
// Names come in two kinds: columns (as in the catalog) and API field names (as webhooks
// and their options see them). A column's API name is the column name unless the entity's
// Fields renames it; Entity.FieldName and Entity.Column convert between the two. Key,
// Exclude, relation and link columns are columns; Owner, Condition and Transition fields
// are API names.
package mapping

import "github.com/walhook/walhook/event"

// CustomEntityPrefix is the entity part of custom entities' event names
// ("CustomEntity.Create"); the entity's own API name travels in the event's entity field.
const CustomEntityPrefix = "CustomEntity"

// Table names a table exactly as the catalog spells it.
type Table struct {
	Schema string
	Name   string
}

// String returns "schema.name" without quoting.
func (t Table) String() string { return t.Schema + "." + t.Name }

// Mapping is a loaded, internally consistent mapping.
type Mapping struct {
	// Entities in file order.
	Entities []*Entity
	// Links are tables whose INSERT raises an event on a parent entity.
	Links []*Link

	byName  map[string]*Entity
	byTable map[Table][]*Entity
	links   map[Table]*Link
}

// Entity maps one table (or the rows of a table that match a discriminator) to an entity.
type Entity struct {
	// Name is the API name: "Account", "Opportunity", "CE_Bid".
	Name string
	// Custom marks a custom entity: its events are "CustomEntity.<Action>".
	Custom bool
	// Events is false for lookup-only entities (documents, comments, pipeline steps) that
	// raise nothing but can be expanded or be the related entity of a link event.
	Events bool
	// Table holds the entity's rows (all of them, or those matching Discriminator).
	Table Table
	// Key is the primary key column.
	Key string
	// Owner is the field (API name) whose change raises OwnerChanged; empty for none.
	Owner string
	// Discriminator selects this entity's rows when several entities share the table.
	Discriminator *Condition
	// SoftDelete turns an UPDATE that makes the condition true into a Delete event.
	SoftDelete *Condition
	// Fields maps API field names to column names where they differ; unlisted columns keep
	// their column name as API name.
	Fields map[string]string
	// Exclude lists columns never exposed (by column name).
	Exclude []string
	// Transitions are the extra events an UPDATE can raise, in file order.
	Transitions []Transition
	// Relations are the named relations for expand, keyed by relation name: derived from
	// foreign keys by Validate, overridden or extended by the file.
	Relations map[string]*Relation
	// Pipedrive is the entity's object in Pipedrive's webhooks (DESIGN.md §12) as the file
	// sets it: "deal", "person", …, or "-" for none; empty for the default by name
	// (PipedriveObject).
	Pipedrive string

	fieldOf map[string]string // column → API name, for renamed columns
	columns map[string]string // API name → column, for renamed fields
	exclude map[string]bool

	// fileRelations are the relations written in the file; Validate starts from them.
	fileRelations map[string]*Relation
	// live holds the table's columns in attribute order, recorded by Validate; nil before.
	live []string
	// apiNames is the set of API names of the live, non-excluded columns.
	apiNames map[string]bool
}

// Condition is "field is one of Values", compared on the value's canonical text (bool
// columns as "true"/"false", numbers as written by PostgreSQL).
type Condition struct {
	// Field is an API field name; Entity.Column gives its column.
	Field  string
	Values []string
}

// Transition is an extra event raised by an UPDATE.
type Transition struct {
	Action event.Action
	// Field (API name) whose change raises the transition. With To, only a change to one of those
	// values raises it; without, any change does (e.g. Move on the sales step).
	Field string
	To    []string
	// From is set for discriminator transitions: the row was entity From before the
	// UPDATE and is this entity after it (Qualify: From Lead; BackToLead: From Opportunity).
	From string
}

// Link is a table whose INSERT raises <Parent>.<Event> (DocumentLinked, Comment).
type Link struct {
	Table Table
	// Action raised on the parent, e.g. DocumentLinked or Comment.
	Action event.Action
	// Parent locates the parent entity, either by a plain foreign key (Entity + Field) or
	// polymorphically (TypeField + Field, with Types mapping type values to entities).
	Parent LinkParent
	// Related is the entity carried as the event's related_entity: Entity with Field
	// naming the link column holding its key (a document), or Entity alone when the link
	// row itself is the related row (a comment).
	Related LinkRelated
}

// LinkParent locates a link row's parent. Field and TypeField are columns of the link table
// (a link table is not an entity, so its columns have no API names).
type LinkParent struct {
	Entity    string
	Field     string
	TypeField string
	Types     map[string]string
}

// LinkRelated names the related entity of a link event. Field is a column of the link table.
type LinkRelated struct {
	Entity string
	Field  string
}

// Relation is a named relation of an entity, followed by expand.
type Relation struct {
	Name string
	// Target is the related entity's name.
	Target string
	// Many is true for one-to-many relations (the target holds the foreign key).
	Many bool
	// Column is the foreign key column: on this entity's table for many-to-one, on the
	// target's table for one-to-many.
	Column string
	// Derived is true when the relation came from a foreign key rather than the file.
	Derived bool
}
