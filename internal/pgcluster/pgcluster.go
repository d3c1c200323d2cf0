// Package pgcluster starts and stops throwaway PostgreSQL clusters on loopback for walhook's
// tests, its demo and its benchmark.
//
// A cluster lives in a temporary directory, listens on 127.0.0.1 on a free port, runs with
// wal_level=logical and without durability (fsync off), and is removed by Stop. When the
// calling process runs as root the server runs as the "postgres" user, because PostgreSQL
// refuses to run as root. Nothing here installs PostgreSQL: EnsureInstalled does that, and
// only when asked.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is returned when no PostgreSQL server binaries can be found.
var ErrNotInstalled = errors.New("postgresql server binaries (initdb, postgres) not found")

// Options tunes a cluster. The zero value is fine.
type Options struct {
	// Settings are extra "-c name=value" server settings, applied after walhook's defaults.
	Settings map[string]string
	// Dir is the parent directory for the data directory; empty means os.TempDir().
	Dir string
	// Port is the TCP port to listen on; 0 means a free one. Tests that replace a
	// database under a running client start the new cluster on the old one's port.
	Port int
}

// Cluster is one running throwaway PostgreSQL server.
type Cluster struct {
	// Host is always 127.0.0.1.
	Host string
	// Port is the TCP port the server listens on.
	Port int

	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	stopOne sync.Once
	stopErr error
}

// BinDir finds the directory holding initdb and postgres: $WALHOOK_PG_BINDIR, then the
// newest /usr/lib/postgresql/*/bin, then $PATH.
func BinDir() (string, error) {
	if d := os.Getenv("WALHOOK_PG_BINDIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("WALHOOK_PG_BINDIR=%s: %w", d, ErrNotInstalled)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// EnsureInstalled installs Debian's postgresql package with apt-get when no server binaries
// are found. It needs root; its output goes to out.
func EnsureInstalled(ctx context.Context, out *os.File) error {
	if _, err := BinDir(); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("install postgresql: %w; run as root or install the postgresql package", ErrNotInstalled)
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	_, err := BinDir()
	return err
}

// Start creates and starts a cluster. It returns once the server accepts connections, or
// with an error that includes the server's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "walhook-pg-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &Cluster{Host: "127.0.0.1", dir: dir, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	if err := c.init(ctx, bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A port found free may be taken before the server binds it; try a few.
	for attempt := 0; ; attempt++ {
		err = c.start(ctx, bin, cred, opts.Settings, opts.Port)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || ctx.Err() != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.exited = make(chan struct{})
	}
}

func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a \"postgres\" user to run the server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) init(ctx context.Context, bin string, cred *syscall.Credential) error {
	data := filepath.Join(c.dir, "data")
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown cluster directory: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context, bin string, cred *syscall.Credential, extra map[string]string, port int) error {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	c.Port = port
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": c.dir,
		"wal_level":               "logical",
		"max_replication_slots":   "64",
		"max_wal_senders":         "64",
		"max_connections":         "200",
		"fsync":                   "off",
		"full_page_writes":        "off",
		"synchronous_commit":      "off",
		"wal_sender_timeout":      "60s",
		"log_min_messages":        "warning",
	}
	for k, v := range extra {
		settings[k] = v
	}
	args := []string{"-D", filepath.Join(c.dir, "data")}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close()
	// Not CommandContext: the server must outlive ctx, which only bounds the start-up.
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	// Pdeathsig: a test binary or fuzz worker that is killed must not leave its server
	// running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	exited := c.exited
	go func() { cmd.Wait(); close(exited) }()
	return c.waitReady(ctx)
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgconn.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start-up: %s", c.LogTail(4096))
		case <-ctx.Done():
			c.kill()
			return fmt.Errorf("postgres not ready on port %d: %w: %s", c.Port, ctx.Err(), c.LogTail(4096))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN returns a connection URL for database db as the superuser "postgres".
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", c.Host, c.Port, db)
}

// Dir is the cluster's directory (data directory and server log).
func (c *Cluster) Dir() string { return c.dir }

// LogTail returns up to n trailing bytes of the server log, for failure messages.
func (c *Cluster) LogTail(n int) string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func (c *Cluster) kill() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// Stop shuts the server down (fast shutdown, then kill after 10s) and removes its directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOne.Do(func() {
		if c.cmd != nil && c.cmd.Process != nil {
			c.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				c.kill()
			}
		}
		c.stopErr = os.RemoveAll(c.dir)
	})
	return c.stopErr
}
