package floodgate

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

	"github.com/floodgate-proxy/floodgate/rules"
)

// contentHash is a hash of the content of the files a config reads: rule files, the range
// files they name, and the ASN database. The Caddyfile adapter puts it in the app's JSON, so
// that `floodgate reload` sends a different config when a file was edited though the
// Caddyfile was not (Caddy skips a config identical to the running one).
func contentHash(ruleNames []string, asnDB string) string {
	if len(ruleNames) == 0 {
		ruleNames = []string{rulefiles.Shipped}
	}
	h := sha256.New()
	io.WriteString(h, rulefiles.Digest(ruleNames...))
	if asnDB != "" {
		io.WriteString(h, "\x00asn_db\x00"+fileHash(asnDB))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// fileHash is the SHA-256 of a file's content, or the error reading it (Provision reports it).
func fileHash(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "error: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}
