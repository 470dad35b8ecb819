package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Redis is a redis-server process the harness started on a free loopback port, with
// persistence off, for the Redis-store arm of the overhead benchmark.
type Redis struct {
	// Addr is 127.0.0.1:port.
	Addr   string
	cmd    *exec.Cmd
	exited chan error
	dir    string
}

// StartRedis starts redis-server (found on PATH) in dir and waits, at most 10s, until it
// answers PING.
func StartRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install Debian's redis-server package): %w", err)
	}
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running redis-server: %w", err)
	}
	r := &Redis{Addr: addr, cmd: cmd, exited: make(chan error, 1), dir: dir}
	go func() { r.exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(addr) == nil {
			return r, nil
		}
		select {
		case err := <-r.exited:
			r.exited <- err
			return nil, fmt.Errorf("redis-server on %s exited before answering PING (%v); log:\n%s", addr, err, tail(filepath.Join(dir, "redis.log"), 2000))
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", addr, tail(filepath.Join(dir, "redis.log"), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Stop kills the server and waits for it.
func (r *Redis) Stop() {
	select {
	case err := <-r.exited:
		r.exited <- err
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	err := <-r.exited
	r.exited <- err
}

// ping sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q, expected +PONG", strings.TrimSpace(line))
	}
	return nil
}
