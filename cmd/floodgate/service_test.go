package main

import (
	"os"
	"strings"
	"testing"
)

// TestServiceUnit checks the systemd unit against the binary: every command line it runs is
// one floodgate accepts (each flag it uses is in the command's help), ExecReload is
// `floodgate reload`, and the access log it sets is the variable Caddyfile.example reads.
func TestServiceUnit(t *testing.T) {
	data, err := os.ReadFile("floodgate.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	for _, key := range []string{"ExecStart", "ExecReload"} {
		args := strings.Fields(keys[key])
		if len(args) < 2 || args[0] != "/usr/bin/floodgate" {
			t.Fatalf("%s = %q: want /usr/bin/floodgate <command> …", key, keys[key])
		}
		help, errOut, code := run(t, nil, nil, args[1], "--help")
		if code != 0 {
			t.Fatalf("%s: floodgate %s --help: exit %d %s", key, args[1], code, errOut)
		}
		for _, a := range args[2:] {
			if strings.HasPrefix(a, "--") && !strings.Contains(help, a) {
				t.Errorf("%s uses %s, which floodgate %s does not know:\n%s", key, a, args[1], help)
			}
		}
	}
	if !strings.HasPrefix(keys["ExecReload"], "/usr/bin/floodgate reload ") {
		t.Errorf("ExecReload = %q, want floodgate reload", keys["ExecReload"])
	}
	example, err := os.ReadFile("../../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if v := keys["Environment"]; !strings.HasPrefix(v, "FLOODGATE_ACCESS_LOG=") || !strings.Contains(string(example), "{$FLOODGATE_ACCESS_LOG:") {
		t.Errorf("Environment = %q: want the FLOODGATE_ACCESS_LOG that Caddyfile.example reads", v)
	}
}
