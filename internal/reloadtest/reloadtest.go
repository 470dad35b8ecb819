// Package reloadtest tells a test when a Caddy reload has finished with the old
// configuration's listener, so that what the test sends next can only reach the new one.
//
// Why a test needs it. On Linux, Caddy binds each configuration's listener as a socket of its
// own with SO_REUSEPORT (caddy listen_unix.go listenReusable), and a reload starts the new
// configuration before it stops the old (caddy.go unsyncedDecodeAndRun). The old http
// server's Shutdown runs in a goroutine that the reload only waits to see started
// (caddyhttp App.stop), so the reload — caddy.Load, or the admin API's POST /load behind
// `floodgate reload` — returns while the old socket may still be listening. Until it closes,
// the kernel hashes each new connection to one of the two sockets: a connection that lands on
// the old one is either served by the old configuration, dropped without a response (EOF:
// net/http's conn.serve returns without serving a request read after Shutdown began), or
// reset when the old socket closes with it still in its accept queue ("connection reset by
// peer"). One request answered by the new configuration proves nothing about the next one.
//
// The proof used here is the kernel's own: /proc/net/tcp and /proc/net/tcp6 list every
// listening socket, one line each even when several share a port. Once a single one listens
// on the port, every new connection reaches the configuration that owns it.
package reloadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tables are the kernel's lists of TCP sockets, IPv4 and IPv6.
var tables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// tcpListen is the state column's value for a listening socket (include/net/tcp_states.h).
const tcpListen = "0A"

// Listening returns how many TCP sockets listen on port, on any address. It fails where the
// system has no /proc/net/tcp (not Linux), where it cannot tell.
func Listening(port int) (int, error) {
	want := fmt.Sprintf(":%04X", port)
	n, read := 0, 0
	for _, name := range tables {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return 0, err
		}
		read++
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// "  sl  local_address rem_address   st ..." then "   0: 0100007F:A5B1 00000000:0000 0A ..."
			fields := strings.Fields(sc.Text())
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == tcpListen {
				n++
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	if read == 0 {
		return 0, fmt.Errorf("no %s: cannot tell which sockets listen", tables[0])
	}
	return n, nil
}

// OldListenerGone waits until exactly one socket listens on port, which after a reload has
// returned is the new configuration's. Call it after the reload returned and before sending
// anything whose answer or count the test checks. It fails the test after 10 s, and skips it
// where the kernel's socket lists cannot be read: there nothing proves the old listener gone.
func OldListenerGone(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		n, err := Listening(port)
		if err != nil {
			t.Skipf("after a reload: %v; nothing proves the old configuration's listener closed", err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a reload, %d sockets still listen on port %d after 10 s, want 1 (the new configuration's)", n, port)
		}
		time.Sleep(wait) // polling the kernel's list; the test's truth does not depend on how long
	}
}

// Port returns the port of a "host:port" address, for OldListenerGone.
func Port(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	p, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return p
}
