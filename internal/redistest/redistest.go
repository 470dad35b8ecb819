// Package redistest starts real redis-server processes for tests: a single
// server on a free loopback port, or a small Redis Cluster. Servers never
// persist anything, live in their own directory under t.TempDir() and are
// stopped by t.Cleanup.
//
// When redis-server (or redis-cli, for clusters) is not on PATH the test
// fails if the environment variable CI is set, and is skipped otherwise.
//
// The same tests run against Valkey (or any server taking redis-server's
// command line) with REDISTEST_SERVER=valkey-server and, for clusters,
// REDISTEST_CLI=valkey-cli.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long we wait for a server to answer PING and for a
// cluster to reach cluster_state:ok.
const startTimeout = 10 * time.Second

// Server is one redis-server process started by Start or StartCluster.
type Server struct {
	// Addr is the "127.0.0.1:port" address the server listens on. It stays
	// the same across Stop and Restart.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	args []string

	mu     sync.Mutex
	proc   *os.Process // nil when stopped
	exited chan error  // receives the Wait result of proc
}

// Start starts a redis-server on a free 127.0.0.1 port with persistence
// disabled, waits until it answers PING and registers its shutdown with
// t.Cleanup. Extra args are appended to the command line (for example
// "--maxmemory", "10mb"). It returns the running server.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := need(t, ServerBinary())
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ { // a free port can be taken between probe and bind
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free loopback port: %v", err)
		}
		s, err := start(t, bin, port, 0, nil, args)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: starting redis-server: %v", lastErr)
	return nil
}

// StartCluster starts n redis-server nodes with cluster mode enabled (all
// masters, no replicas), joins them with `redis-cli --cluster create`, waits
// until every node reports cluster_state:ok and returns the node addresses.
// n must be at least 3, the minimum redis-cli accepts.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	if n < 3 {
		t.Fatalf("redistest: StartCluster needs at least 3 nodes, got %d", n)
	}
	bin := need(t, ServerBinary())
	cli := need(t, CLIBinary())
	addrs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var s *Server
		var lastErr error
		for attempt := 0; attempt < 5 && s == nil; attempt++ {
			port, err := freePort()
			if err != nil {
				t.Fatalf("redistest: finding a free loopback port: %v", err)
			}
			bus, err := freePort()
			if err != nil {
				t.Fatalf("redistest: finding a free loopback port: %v", err)
			}
			s, lastErr = start(t, bin, port, bus, nil, []string{
				"--cluster-enabled", "yes",
				"--cluster-node-timeout", "2000",
			})
		}
		if s == nil {
			t.Fatalf("redistest: starting cluster node %d: %v", i, lastErr)
		}
		addrs = append(addrs, s.Addr)
	}
	cmdArgs := append([]string{"--cluster", "create"}, addrs...)
	cmdArgs = append(cmdArgs, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, cmdArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create %v: %v\n%s", addrs, err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, a := range addrs {
		for {
			info, err := command(a, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok after %v: %q %v", a, startTimeout, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) on a free
// 127.0.0.1 port that monitors the master at masterAddr under masterName
// with quorum 1, and waits until it reports that master. It is stopped by
// t.Cleanup.
func StartSentinel(t testing.TB, masterName, masterAddr string) *Server {
	t.Helper()
	bin := need(t, ServerBinary())
	host, mport, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("redistest: master address %q is not host:port: %v", masterAddr, err)
	}
	conf := func(dir string) ([]string, error) {
		p := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %s %s %s 1\n", masterName, host, mport)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return nil, err
		}
		return []string{p, "--sentinel"}, nil
	}
	var s *Server
	var lastErr error
	for attempt := 0; attempt < 5 && s == nil; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free loopback port: %v", err)
		}
		s, lastErr = start(t, bin, port, 0, conf, nil)
	}
	if s == nil {
		t.Fatalf("redistest: starting redis sentinel: %v", lastErr)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := command(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
		if err == nil && reply == host+"\n"+mport {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel %s does not report master %s at %s: %q %v", s.Addr, masterName, masterAddr, reply, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Stop kills the server process (SIGKILL, as in a crash) and waits for it to
// exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart starts the server again on the same port (after a Stop; a running
// server is stopped first) and waits until it answers PING. It fails the test
// if the server does not come back. The data set starts empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger briefly
		if err = s.launchLocked(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
}

func (s *Server) stopLocked() {
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// ServerBinary is the server binary tests start: $REDISTEST_SERVER, or
// redis-server.
func ServerBinary() string { return envOr("REDISTEST_SERVER", "redis-server") }

// CLIBinary is the client binary used to create clusters: $REDISTEST_CLI, or
// redis-cli.
func CLIBinary() string { return envOr("REDISTEST_CLI", "redis-cli") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// need returns the path of a binary, or fails/skips the test when absent.
func need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("redistest: %s not found on PATH (required when CI is set): %v", name, err)
	}
	t.Skipf("redistest: %s not found on PATH; skipping (set CI to make this a failure)", name)
	return ""
}

// start launches bin on port. conf, when not nil, writes a config file
// into the server's directory and returns leading arguments (the file must
// come first on a redis-server command line).
func start(t testing.TB, bin string, port, busPort int, conf func(dir string) ([]string, error), extra []string) (*Server, error) {
	t.Helper()
	dir, err := os.MkdirTemp(t.TempDir(), "redis-"+strconv.Itoa(port)+"-")
	if err != nil {
		return nil, err
	}
	var args []string
	if conf != nil {
		if args, err = conf(dir); err != nil {
			return nil, err
		}
	}
	args = append(args,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	)
	if busPort != 0 {
		args = append(args, "--cluster-port", strconv.Itoa(busPort),
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"))
	}
	args = append(args, extra...)
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
		bin:  bin,
		dir:  dir,
		args: args,
	}
	s.mu.Lock()
	err = s.launchLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.Stop)
	return s, nil
}

// launchLocked runs the process and waits for PING (a NOAUTH reply, from a
// server started with --requirepass, counts as an answer); on failure the process
// is killed and the error includes the tail of the server log.
func (s *Server) launchLocked() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := command(s.Addr, "PING")
		if (err == nil && reply == "PONG") || (err != nil && strings.HasPrefix(err.Error(), "NOAUTH")) {
			s.proc = cmd.Process
			s.exited = exited
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("redis-server on %s exited before answering PING (%v); log:\n%s", s.Addr, werr, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v (last: %q, %v); log:\n%s",
				s.Addr, startTimeout, reply, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command sends one RESP command and returns its reply as text (see
// readReply). It is just enough for PING, CLUSTER INFO and SENTINEL.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(req.Bytes()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

// readReply reads one RESP reply: simple strings and bulk strings as text,
// arrays of those joined by newlines (a nil array as ""), errors as errors.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > 1<<20 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "", errors.New("nil reply")
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > 1024 {
			return "", fmt.Errorf("bad array length %q", line)
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}
