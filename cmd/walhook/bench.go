package main

import (
	"context"
	"errors"
)

// cmdBench is "walhook bench" (DESIGN.md §1); the lead replaces this placeholder.
func cmdBench(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
