// Package pgtest starts a throwaway PostgreSQL server for tests and
// benchmarks: Debian's postgresql package, initdb into a temporary
// directory, postgres on a free loopback port, removed afterwards.
// PostgreSQL refuses to run as root, so a test run as root (CI) starts it
// as the postgres system user; a normal user runs it as themselves.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vcc/vccpki/internal/testtool"
)

// InstallHint is the command that installs what the harness needs.
const InstallHint = "apt-get install -y postgresql  (Debian/Ubuntu; .ci/install-deps does it)"

// Options choose how the server is run.
type Options struct {
	// Durable keeps fsync on, as a production server runs: for benchmarks
	// comparing with SQLite's synchronous=FULL. Tests leave it off.
	Durable bool
	// Settings are extra -c name=value server settings, applied last.
	Settings []string
}

// Server is one running throwaway PostgreSQL.
type Server struct {
	Port    int
	dir     string // temporary directory: data/ and the socket
	bin     string // directory of initdb and postgres
	asUser  *user.User
	opts    Options
	cmd     *exec.Cmd
	exited  chan struct{}
	counter atomic.Int64
}

// binDir finds the newest /usr/lib/postgresql/<version>/bin with initdb.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): %s", InstallHint)
	}
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	return filepath.Dir(dirs[0]), nil
}

// Start initialises and starts a server. Call Stop when done.
func Start(opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	out, err := s.command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", "vccpki", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := s.start(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// newServer makes the temporary directory, owned by the user the server
// will run as.
func newServer(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vccpki-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse root: run them as the postgres
		// system user, which the Debian package creates.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres system user to start PostgreSQL: %w (%s)", err, InstallHint)
		}
		s.asUser = u
		if err := s.chown(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return s, nil
}

// StartStandby makes a streaming-replication hot standby of s with
// pg_basebackup (-R writes its primary_conninfo and standby.signal) and
// starts it on a port of its own. With synchronous_standby_names = '*' in
// the primary's Settings, a commit returns only once the standby has it.
func (s *Server) StartStandby(opts Options) (*Server, error) {
	sb, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	out, err := sb.command(filepath.Join(sb.bin, "pg_basebackup"), "-D", sb.dataDir(), "-h", "127.0.0.1",
		"-p", strconv.Itoa(s.Port), "-U", "vccpki", "-R", "-X", "stream", "--checkpoint=fast", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(sb.dir)
		return nil, fmt.Errorf("pg_basebackup: %w\n%s", err, out)
	}
	if err := sb.start(); err != nil {
		os.RemoveAll(sb.dir)
		return nil, err
	}
	return sb, nil
}

// Promote turns a standby into a primary (pg_ctl promote, the operator's
// step of docs/postgres.md) and waits until it takes writes.
func (s *Server) Promote() error {
	out, err := s.command(filepath.Join(s.bin, "pg_ctl"), "promote", "-D", s.dataDir(), "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl promote: %w\n%s", err, out)
	}
	return nil
}

// URL is the address of database db on this server.
func (s *Server) URL(db string) string { return s.url(db) }

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) chown(path string) error {
	uid, _ := strconv.Atoi(s.asUser.Uid)
	gid, _ := strconv.Atoi(s.asUser.Gid)
	return os.Chown(path, uid, gid)
}

// command runs name as the server's user: setpriv execs in place (no
// process in between), so signals sent to the command reach postgres.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.asUser == nil {
		cmd = exec.Command(name, args...)
	} else {
		cmd = exec.Command("setpriv", append([]string{"--reuid=" + s.asUser.Uid, "--regid=" + s.asUser.Gid,
			"--clear-groups", "--", name}, args...)...)
	}
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func (s *Server) start() error {
	if s.Port == 0 {
		ports, err := testtool.FreePorts(1)
		if err != nil {
			return err
		}
		p := ports[0]
		s.Port = p
	}
	args := []string{"-D", s.dataDir(), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-k", s.dir,
		"-c", "max_connections=300", "-c", "shared_buffers=64MB", "-c", "log_min_messages=warning"}
	if !s.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, kv := range s.opts.Settings {
		args = append(args, "-c", kv)
	}
	var log bytes.Buffer
	cmd := s.command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	// Its own process group: a Ctrl-C of the test run goes to the test,
	// which then stops the server in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), s.url("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited at start: %s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres did not accept connections within 30s: %v\n%s", err, log.String())
		}
	}
}

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://vccpki@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase() (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return s.url(name), nil
}

// Database is NewDatabase for a test: it fails the test on error.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	u, err := s.NewDatabase()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// Kill stops the server at once, as a crash would (SIGKILL of the
// postmaster leaves its children to notice and exit); Restart brings it
// back on the same port and data, as after a failover to a promoted copy.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	// SIGQUIT: immediate shutdown, every backend exits without cleanup,
	// the next start runs crash recovery.
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart starts the server again after Kill.
func (s *Server) Restart() error { return s.start() }

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			s.kill()
		}
		s.cmd = nil
	}
	os.RemoveAll(s.dir)
}

// Main runs a test package's tests with one server for all of them:
// call it from TestMain as os.Exit(pgtest.Main(m, &srv)). Without
// PostgreSQL it fails the run (never skips) with the install command.
func Main(m *testing.M, srv **Server) int {
	s, err := Start(Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start PostgreSQL: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "pgtest:", InstallHint)
		}
		return 1
	}
	*srv = s
	defer s.Stop()
	return m.Run()
}

// Exec runs SQL statements on the server's postgres database as the
// superuser, e.g. ALTER SYSTEM and pg_reload_conf().
func (s *Server) Exec(statements ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range statements {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// CPUTime is the CPU time the server's processes have used so far: the
// postmaster, its live children (backends, WAL writer, checkpointer, ...)
// and the children it has reaped. Linux only; benchmarks use it to show
// what the database costs per request.
func (s *Server) CPUTime() time.Duration {
	if s.cmd == nil {
		return 0
	}
	pm := s.cmd.Process.Pid
	var ticks int64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		str := string(stat)
		f := strings.Fields(str[strings.LastIndexByte(str, ')')+2:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		for _, i := range []int{11, 12} { // utime, stime
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
		if pid == pm {
			for _, i := range []int{13, 14} { // cutime, cstime: reaped children
				n, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += n
			}
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
