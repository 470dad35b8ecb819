package rulefiles

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// Digest returns a hash of the content of every file Load(names...) reads: the rule files
// (a folder's *.yaml files) and the range files they name. Two calls give the same digest
// exactly when those files hold the same bytes, so a config that embeds it changes when a rule
// or range file is edited (Caddy skips reloading a config identical to the running one).
// Files that cannot be read or parsed are hashed as far as they were read; Load reports them.
func Digest(names ...string) string {
	h := sha256.New()
	_, _ = loadFrom(hashingSource{h}, names...)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// hashingSource is source, hashing the name and content of every file read.
type hashingSource struct{ h io.Writer }

func (s hashingSource) ReadFile(name string) ([]byte, error) {
	b, err := source{}.ReadFile(name)
	_, _ = io.WriteString(s.h, name+"\x00")
	if err != nil {
		_, _ = io.WriteString(s.h, "error: "+err.Error()+"\x00")
		return nil, err
	}
	_, _ = s.h.Write(b)
	_, _ = s.h.Write([]byte{0})
	return b, nil
}

func (hashingSource) Join(ruleFile, rel string) string { return source{}.Join(ruleFile, rel) }
