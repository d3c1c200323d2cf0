package main

import (
	"context"
	"errors"
)

// cmdRun is "walhook run" (DESIGN.md §1); the lead replaces this placeholder.
func cmdRun(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
