package pass

import (
	"crypto/aes"
	"encoding/hex"
	"testing"
)

// AES-CMAC as RFC 4493 section 4 specifies it: its subkeys and its four examples.
func TestCMACRFC4493(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := aes.NewCipher(unhex("2b7e151628aed2a6abf7158809cf4f3c"))
	if err != nil {
		t.Fatal(err)
	}
	k := newCMAC(b)
	if got := hex.EncodeToString(k.k1[:]); got != "fbeed618357133667c85e08f7236a8de" {
		t.Errorf("K1 = %s", got)
	}
	if got := hex.EncodeToString(k.k2[:]); got != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("K2 = %s", got)
	}
	msg := unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		var tag, x [aes.BlockSize]byte
		k.sum(&tag, &x, msg[:c.n])
		if got := hex.EncodeToString(tag[:]); got != c.want {
			t.Errorf("CMAC of %d bytes = %s, want %s", c.n, got, c.want)
		}
	}
}
