package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPrefix(t *testing.T) {
	tests := []struct {
		ip     string
		v4, v6 int
		want   string
	}{
		{"192.0.2.77", 0, 0, "192.0.2.0/24"},
		{"192.0.2.77", 24, 64, "192.0.2.0/24"},
		{"192.0.2.77", 16, 64, "192.0.0.0/16"},
		{"192.0.2.77", 32, 64, "192.0.2.77/32"},
		{"192.0.2.77", 40, 64, "192.0.2.77/32"},
		{"192.0.2.77", -1, 64, "192.0.2.0/24"},
		{"::ffff:192.0.2.77", 0, 0, "192.0.2.0/24"},
		{"::ffff:192.0.2.77", 24, 120, "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", 0, 0, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 24, 128, "2001:db8:1:2:3:4:5:6/128"},
		{"2001:db8:1:2:3:4:5:6", 24, 200, "2001:db8:1:2:3:4:5:6/128"},
		{"fe80::1:2%eth0", 0, 0, "fe80::/64"},
		{"127.0.0.1", 8, 0, "127.0.0.0/8"},
		{"::1", 0, 0, "::/64"},
	}
	for _, tt := range tests {
		got := Prefix(netip.MustParseAddr(tt.ip), tt.v4, tt.v6)
		if got.String() != tt.want {
			t.Errorf("Prefix(%s, %d, %d) = %s, want %s", tt.ip, tt.v4, tt.v6, got, tt.want)
		}
		l := PrefixLengths{V4: tt.v4, V6: tt.v6}
		if got2 := l.Prefix(netip.MustParseAddr(tt.ip)); got2 != got {
			t.Errorf("PrefixLengths%+v.Prefix(%s) = %s, want %s", l, tt.ip, got2, got)
		}
	}
	if got := Prefix(netip.Addr{}, 24, 64); got.IsValid() {
		t.Errorf("Prefix(zero Addr) = %s, want the zero Prefix", got)
	}
}

func TestPrefixLengthsValid(t *testing.T) {
	tests := []struct {
		l    PrefixLengths
		want []string // substrings of the error; nil means valid
	}{
		{PrefixLengths{}, nil},
		{PrefixLengths{V4: 8, V6: 16}, nil},
		{PrefixLengths{V4: 32, V6: 128}, nil},
		{PrefixLengths{V4: 24}, nil},
		{PrefixLengths{V4: 7}, []string{"IPv4 prefix length 7 is out of range (expected 8 to 32, default 24)"}},
		{PrefixLengths{V4: 33}, []string{"IPv4 prefix length 33 is out of range"}},
		{PrefixLengths{V4: -24}, []string{"IPv4 prefix length -24 is out of range"}},
		{PrefixLengths{V6: 15}, []string{"IPv6 prefix length 15 is out of range (expected 16 to 128, default 64)"}},
		{PrefixLengths{V6: 129}, []string{"IPv6 prefix length 129 is out of range"}},
		{PrefixLengths{V4: 64, V6: 8}, []string{"IPv4 prefix length 64", "IPv6 prefix length 8 is out of range"}},
	}
	for _, tt := range tests {
		err := tt.l.Valid()
		if tt.want == nil {
			if err != nil {
				t.Errorf("%+v.Valid() = %v, want nil", tt.l, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v.Valid() = nil, want an error containing %q", tt.l, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v.Valid() = %q, want it to contain %q", tt.l, err, w)
			}
		}
	}
	if got := (PrefixLengths{V6: 48}).WithDefaults(); got != (PrefixLengths{V4: 24, V6: 48, V6Wide: 48}) {
		t.Errorf("WithDefaults = %+v", got)
	}
	if got := (PrefixLengths{V4: 16}).WithDefaults(); got != (PrefixLengths{V4: 16, V6: 64, V6Wide: 48}) {
		t.Errorf("WithDefaults = %+v", got)
	}
	if err := (PrefixLengths{V6: 56, V6Wide: 60}).Valid(); err == nil || !strings.Contains(err.Error(), "wide prefix length 60") {
		t.Errorf("a wide prefix narrower than the prefix: %v", err)
	}
	// The wide prefix: a /48 for IPv6, none for IPv4, none when not wider.
	l := PrefixLengths{}
	if got := l.WidePrefix(netip.MustParseAddr("2001:db8:1:2::9")); got != netip.MustParsePrefix("2001:db8:1::/48") {
		t.Errorf("WidePrefix(IPv6) = %v", got)
	}
	for _, ip := range []string{"192.0.2.1", "::ffff:192.0.2.1"} {
		if got := l.WidePrefix(netip.MustParseAddr(ip)); got.IsValid() {
			t.Errorf("WidePrefix(%s) = %v, want none", ip, got)
		}
	}
	if got := (PrefixLengths{V6: 64, V6Wide: 64}).WidePrefix(netip.MustParseAddr("2001:db8::1")); got.IsValid() {
		t.Errorf("WidePrefix with V6Wide = V6: %v, want none", got)
	}
}
