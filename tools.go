//go:build tools

package main

import (
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pglogrepl"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/sethvargo/go-envconfig"
	_ "golang.org/x/sync/errgroup"
	_ "gopkg.in/yaml.v3"
)

func main() {}
