package main

import (
	"context"
	"errors"
)

// cmdDemo is "walhook demo" (DESIGN.md §1); the lead replaces this placeholder.
func cmdDemo(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
