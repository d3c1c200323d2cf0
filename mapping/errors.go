package mapping

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error that reports a problem with the mapping itself (its
// YAML, its internal consistency, or its fit to the live schema), as opposed to an I/O or
// database failure. Test with errors.Is.
var ErrInvalid = errors.New("invalid mapping")

// ValidationError lists every problem found in a mapping, so that one run names them all.
// It wraps ErrInvalid.
type ValidationError struct {
	// Source names where the mapping came from (a file path, "bundled sample"); empty for
	// Parse.
	Source string
	// Problems each name the entity or link and the key at fault, e.g.
	// `entity Opportunity: transitions[3].from: unknown entity "Leed"` or
	// `unknown column crm.contacts.emial1 (entity Contact, field email1)`.
	Problems []string
}

// Error joins the problems with "; " after a "mapping" prefix.
func (e *ValidationError) Error() string {
	prefix := "mapping"
	if e.Source != "" {
		prefix += " " + e.Source
	}
	return prefix + ": " + strings.Join(e.Problems, "; ")
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// problems collects validation problems in the order they are found.
type problems struct {
	list []string
}

func (p *problems) addf(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// err returns nil when nothing was found, else a *ValidationError.
func (p *problems) err(source string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Source: source, Problems: p.list}
}
