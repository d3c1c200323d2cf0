package webhookfile

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/walhook/walhook/matcher"
)

// Op is what a Change does.
type Op string

// The operations of a plan, as the plan prints them.
const (
	Create Op = "+ create"
	Update Op = "~ update"
	Delete Op = "- delete"
)

// Change is one webhook the plan creates, updates or deletes.
type Change struct {
	Op  Op
	Key Key
	// Fields lists, for an Update, the fields that differ, in the create body's names
	// (url, events, …), never their values.
	Fields []string
	// want is the webhook from the file (Create, Update); id the stored one's (Update,
	// Delete).
	want *matcher.Webhook
	id   string
}

// Plan is what applying a file to the stored webhooks changes. Only managed webhooks take
// part: live ones with a name and a space, not created through Pipedrive's API.
type Plan struct {
	// Changes are the creates and updates in the file's order, then the deletes by key.
	Changes []Change
	// Unchanged counts the file's webhooks that match their stored ones.
	Unchanged int
	// Kept are the managed webhooks that the file does not name, left alone because
	// pruning is off.
	Kept []Key
}

// Managed reports whether apply manages wh: a live webhook with a name and a space (a
// webhook without a space predates spaces and is visible in all of them), not one
// created through Pipedrive's API (whose name is Pipedrive's own).
func Managed(wh *matcher.Webhook) bool {
	return !wh.IsDeleted && wh.Name != "" && wh.Space != "" && wh.Pipedrive == nil
}

// NewPlan compares the file's entries with the live webhooks: an entry without a stored
// webhook of its key is created, one whose stored webhook differs in any field is updated
// (only those fields), others are unchanged. Managed webhooks the file does not name are
// deleted with prune, and kept otherwise. Webhooks apply does not manage never appear.
func NewPlan(entries []Entry, live []*matcher.Webhook, prune bool) *Plan {
	stored := map[Key]*matcher.Webhook{}
	for _, wh := range live {
		if Managed(wh) {
			stored[Key{Space: wh.Space, Name: wh.Name}] = wh
		}
	}
	p := &Plan{}
	for _, e := range entries {
		have, ok := stored[e.Key]
		delete(stored, e.Key)
		switch {
		case !ok:
			p.Changes = append(p.Changes, Change{Op: Create, Key: e.Key, want: e.Webhook})
		default:
			if fields := Diff(have, e.Webhook); len(fields) > 0 {
				p.Changes = append(p.Changes, Change{Op: Update, Key: e.Key, Fields: fields, want: e.Webhook, id: have.ID})
			} else {
				p.Unchanged++
			}
		}
	}
	rest := slices.SortedFunc(maps.Keys(stored), func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Space, b.Space), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range rest {
		if prune {
			p.Changes = append(p.Changes, Change{Op: Delete, Key: k, id: stored[k].ID})
		} else {
			p.Kept = append(p.Kept, k)
		}
	}
	return p
}

// Diff returns the fields of want that differ from have, in the create body's names and
// order. Values are compared as stored: events as an ordered list, options as JSON values
// (spacing and key order do not count), an absent signing as pipeliner, no headers as
// empty, the timeout to the millisecond the store keeps.
func Diff(have, want *matcher.Webhook) []string {
	var fields []string
	add := func(field string, differs bool) {
		if differs {
			fields = append(fields, field)
		}
	}
	add("url", have.URL != want.URL)
	add("events", !slices.Equal(have.Events, want.Events))
	add("insecure_ssl", have.InsecureSSL != want.InsecureSSL)
	add("signature", have.Signature != want.Signature)
	add("options", !sameJSON(have.Options, want.Options))
	add("http_auth_user", have.HTTPAuthUser != want.HTTPAuthUser)
	add("http_auth_password", have.HTTPAuthPassword != want.HTTPAuthPassword)
	add("signing", signing(have.Signing) != signing(want.Signing))
	add("headers", !maps.Equal(have.Headers, want.Headers))
	add("timeout", have.Timeout.Truncate(time.Millisecond) != want.Timeout.Truncate(time.Millisecond))
	return fields
}

func signing(s string) string { return cmp.Or(s, matcher.SigningPipeliner) }

// sameJSON reports whether a and b hold the same JSON value; empty counts as {}.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(orEmptyObject(a), &va) != nil || json.Unmarshal(orEmptyObject(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func orEmptyObject(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	return raw
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Write prints the plan, one line per change, then the kept webhooks, the unchanged count
// and a summary. It never prints a field's value, so no secret reaches the output.
func (p *Plan) Write(w io.Writer, file string) error {
	var b strings.Builder
	var created, updated, deleted int
	for _, c := range p.Changes {
		switch c.Op {
		case Create:
			created++
			fmt.Fprintf(&b, "%s %s\n", c.Op, c.Key)
		case Update:
			updated++
			fmt.Fprintf(&b, "%s %s: %s\n", c.Op, c.Key, strings.Join(c.Fields, ", "))
		case Delete:
			deleted++
			fmt.Fprintf(&b, "%s %s\n", c.Op, c.Key)
		}
	}
	for _, k := range p.Kept {
		fmt.Fprintf(&b, "! keep %s: not in %s; --prune deletes it\n", k, file)
	}
	fmt.Fprintf(&b, "= unchanged %d\n", p.Unchanged)
	fmt.Fprintf(&b, "plan: %d to create, %d to update, %d to delete, %d unchanged", created, updated, deleted, p.Unchanged)
	if len(p.Kept) > 0 {
		fmt.Fprintf(&b, ", %d not in the file kept", len(p.Kept))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// Store is what Apply needs of the webhook store; *matcher.Store (in InTx) satisfies it.
type Store interface {
	Create(ctx context.Context, wh *matcher.Webhook) (*matcher.Webhook, error)
	Update(ctx context.Context, id string, apply func(*matcher.Webhook) error) (*matcher.Webhook, error)
	Delete(ctx context.Context, id string) error
}

// Apply makes the changes of the plan on s, in order, and stops at the first error. It
// is all or nothing only when s is a transaction's store (matcher.Store.InTx). An update
// writes the fields the file holds and keeps the webhook's id, created time, status
// (paused stays paused) and delivery history; a changed signature starts a rotation as a
// PATCH does.
func (p *Plan) Apply(ctx context.Context, s Store) error {
	for _, c := range p.Changes {
		var err error
		switch c.Op {
		case Create:
			_, err = s.Create(ctx, c.want)
		case Update:
			_, err = s.Update(ctx, c.id, func(wh *matcher.Webhook) error {
				setFields(wh, c.want)
				return nil
			})
		case Delete:
			err = s.Delete(ctx, c.id)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", strings.TrimLeft(string(c.Op), "+~- "), c.Key, err)
		}
	}
	return nil
}

// setFields copies the fields a file sets from want onto wh.
func setFields(wh, want *matcher.Webhook) {
	wh.URL, wh.Events, wh.InsecureSSL = want.URL, want.Events, want.InsecureSSL
	wh.Signature, wh.Options = want.Signature, want.Options
	wh.HTTPAuthUser, wh.HTTPAuthPassword, wh.Signing = want.HTTPAuthUser, want.HTTPAuthPassword, want.Signing
	wh.Headers, wh.Timeout = want.Headers, want.Timeout
}
