//go:build tools

package main
import (
 _ "github.com/jackc/pglogrepl"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/sethvargo/go-envconfig"
 _ "gopkg.in/yaml.v3"
 _ "github.com/google/go-cmp/cmp"
 _ "golang.org/x/sync/errgroup"
 _ "github.com/google/uuid"
)
func main(){}
