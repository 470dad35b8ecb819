//go:build linux && (amd64 || arm64)

package reloadtest

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// soReusePort is SO_REUSEPORT on Linux amd64 and arm64 (asm-generic/socket.h); the syscall
// package does not name it.
const soReusePort = 15

// TestListeningCountsSocketsSharingAPort: two sockets bound to one port with SO_REUSEPORT, as
// Caddy binds an old and a new configuration's, are two listeners until one closes.
func TestListeningCountsSocketsSharingAPort(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	old, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	port := Port(t, old.Addr().String())
	other, err := net.Listen("tcp", "127.0.0.1:0") // another port: not counted
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n, err := Listening(port); n != 1 || err != nil {
		t.Fatalf("one socket on port %d: Listening = %d, %v; want 1", port, n, err)
	}
	renewed, err := lc.Listen(context.Background(), "tcp", old.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer renewed.Close()
	if n, err := Listening(port); n != 2 || err != nil {
		t.Fatalf("old and new socket on port %d: Listening = %d, %v; want 2", port, n, err)
	}
	// A connection to either socket does not count: it is not listening.
	c, err := net.Dial("tcp", old.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := Listening(port); n != 2 || err != nil {
		t.Fatalf("with a connection open: Listening = %d, %v; want 2", n, err)
	}
	old.Close()
	if n, err := Listening(port); n != 1 || err != nil {
		t.Fatalf("old socket closed: Listening = %d, %v; want 1", n, err)
	}
	OldListenerGone(t, port) // returns at once
}
