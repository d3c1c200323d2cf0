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
	// Actions are the words the file declares (top-level actions:) besides the known
	// vocabulary (KnownActions), so that a typo such as Wonn is an error, not a new event.
	Actions []event.Action

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
	// Table holds the entity's rows (all of them, or those matching Discriminator); the
	// first of Tables for an entity over several tables.
	Table Table
	// Tables are every table holding the entity's rows: one, or several (meetings and calls
	// are both Appointments; written as a list under table:). Each must have the key and
	// every column the entity names; the event says which table a change came from.
	Tables []Table
	// Key is the primary key column; the first of Keys for a composite key.
	Key string
	// Keys are the key columns: one, or several for a composite key (written as a list
	// under key:). An entity with a composite key has as EntityID its key values joined
	// with KeySeparator, in Keys order.
	Keys []string
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

// Condition holds when every one of its clauses holds (a discriminator over several
// columns: is_company false AND partner_share true).
type Condition struct {
	Clauses []Clause
}

// Clause is "field is one of Values (or NULL, when Null)", or "field is not NULL" when
// NotNull. Values are compared on the value's canonical text (bool columns as
// "true"/"false", numbers as written by PostgreSQL).
type Clause struct {
	// Field is an API field name for entities (Entity.Column gives its column) and a column
	// for links and lookup tables.
	Field   string
	Values  []string
	Null    bool
	NotNull bool
}

// KeySeparator joins the values of a composite key into one EntityID.
const KeySeparator = ","

// Transition is an extra event raised by an UPDATE. It takes one of four forms:
//
//   - Field: the field changed; with To, to one of those values; with FromValues, from one
//     of those (Move on any change of the sales step, Won on status changing to Won);
//   - When: the conditions hold on the new row and did not all hold on the old one
//     (active false AND probability 0; deleted_at becoming not null);
//   - Field with Lookup: the field now references a row of the lookup table satisfying
//     the lookup's condition, and did not before (stage_id moved to a stage whose is_won
//     is true);
//   - From: the row was entity From before the UPDATE and is this entity after it
//     (Qualify: From Lead; BackToLead: From Opportunity).
type Transition struct {
	Action event.Action
	// Field (API name) whose change raises the transition.
	Field string
	// To and FromValues restrict Field's new and old values; ToNull and FromNull add NULL.
	To         []string
	FromValues []string
	ToNull     bool
	FromNull   bool
	// When is a condition that must become true.
	When *Condition
	// Lookup resolves Field through another table.
	Lookup *Lookup
	// From is set for discriminator transitions: an entity sharing this entity's table.
	From string
	// Via is set for a transition caused by a row of another entity: when an UPDATE of a
	// Via.Entity row sets Via.Field (a reference to this entity's key) to a new, non-NULL
	// value, this entity raises the transition on the row referenced (a lead's
	// created_opportunity_id set: Opportunity.Qualify on the new opportunity, with the lead
	// as related entity).
	Via *Via
}

// Via names the entity and field (API name) whose change causes a transition.
type Via struct {
	Entity string
	Field  string
}

// Lookup is a table read at start and kept current from the replication stream, used to
// decide transitions through a reference (stage_id → stages.is_won). Its columns are
// written as in the catalog.
type Lookup struct {
	Table Table
	// Key is the lookup table's key column, the one Field references.
	Key string
	// When selects the lookup rows that satisfy the transition.
	When *Condition
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
	// When is a condition on the link row's columns (message_type = 'comment'); a row
	// that does not satisfy it is no link.
	When *Condition
	// SoftDelete marks link rows that are no longer links (deleted = 1). An UPDATE that
	// makes a row a link (re-pointed at a parent, the condition now true, a soft-deleted
	// row revived) raises the link event then.
	SoftDelete *Condition

	m *Mapping // for the entities of TypeTables
}

// LinkParent locates a link row's parent. Field and TypeField are columns of the link table
// (a link table is not an entity, so its columns have no API names).
type LinkParent struct {
	Entity    string
	Field     string
	TypeField string
	// Types maps type values to parent entities. A value written as schema.table (Odoo's
	// res_model = 'crm.lead' naming a table shared by Lead and Opportunity) is in
	// TypeTables instead: the parent is the entity of that table whose discriminator the
	// parent row satisfies, read from the CRM when the link event is raised; a parent that
	// does not exist (or is soft-deleted) raises nothing.
	Types      map[string]string
	TypeTables map[string]Table
	// OneOf maps nullable columns to parent entities, one column per parent kind (Twenty's
	// noteTargets: personId → Contact, companyId → Account): the first non-NULL column in
	// column-name order names the parent and holds its key. Entity, Field and TypeField are
	// empty then.
	OneOf map[string]string
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
	// Where restricts the target's rows, on the target's API names: the type condition of a
	// polymorphic one-to-many relation (an account's notes are the notes whose
	// parent_type is 'Accounts' and parent_id the account's key).
	Where *Condition
}
