package matcher

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) by Store methods when no live webhook has the given id:
// it never existed, its id is not a UUID, or it was deleted.
var ErrNotFound = errors.New("webhook not found")

// ErrNameTaken is wrapped (with ErrInvalid, in a *ValidationError for the field "name") by
// Create and Update when another live webhook of the same space has the name already.
var ErrNameTaken = errors.New("webhook name taken")

// ErrInvalid is wrapped by every *ValidationError: the webhook's events or options (or, in
// package api, another field) are not acceptable. Test with errors.Is.
var ErrInvalid = errors.New("invalid webhook")

// ValidationError names one unacceptable field of a webhook and says why. Field is a dotted
// path from the request body's top level ("events[2]", "options.entity.Contact.filter-op.email1");
// Reason names the offending value.
type ValidationError struct {
	Field  string
	Reason string
	// err is an optional cause (errCyclic), found by errors.Is besides ErrInvalid.
	err error
}

// Error returns "<field>: <reason>".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalid, and the cause when there is one.
func (e *ValidationError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrInvalid, e.err}
	}
	return []error{ErrInvalid}
}

// Invalidf returns a *ValidationError for field with a formatted reason.
func Invalidf(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// maxShown bounds how much of a client's value an error message repeats.
const maxShown = 80

// shown quotes s for an error message, cut to maxShown bytes.
func shown(s string) string {
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
