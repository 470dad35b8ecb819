package floodgate

import "testing"

func TestDecodeKey(t *testing.T) {
	for in, ok := range map[string]bool{
		"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0":           true,
		"736563726574736563726574736563726574736563726574736563726574aa": true,
		"not a key!": false,
	} {
		if _, err := decodeKey(in); (err == nil) != ok {
			t.Errorf("decodeKey(%q): %v", in, err)
		}
	}
}
