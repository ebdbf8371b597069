package leakcheck

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
)

func TestLeaksFindsEveryForm(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*37 + 11)
	}
	secrets := map[string]Secret{"the key": Key(key), "the password": Text("correct horse battery")}
	for _, line := range []string{
		`{"msg":"x","k":"` + hex.EncodeToString(key) + `"}`,
		`k=` + fmt.Sprintf("%X", key),
		`k=` + base64.StdEncoding.EncodeToString(key),
		`k=` + base64.URLEncoding.EncodeToString(key),
		`k=` + base64.RawURLEncoding.EncodeToString(key),
		`k=` + fmt.Sprint(key),
		`k=` + fmt.Sprintf("%v", [32]byte(key)),
	} {
		if got := Leaks(line, secrets); !slices.Equal(got, []string{"the key"}) {
			t.Errorf("%s: found %v", line, got)
		}
	}
	if got := Leaks("login with correct horse battery", secrets); !slices.Equal(got, []string{"the password"}) {
		t.Errorf("the password: found %v", got)
	}
	// Nothing in a line that holds neither, a public key's hex beside.
	other := make([]byte, 32)
	if got := Leaks(`{"peer":"`+hex.EncodeToString(other)+`","room":"correct horse"}`, secrets); len(got) != 0 {
		t.Errorf("found %v in a clean line", got)
	}
	if got := Leaks("join with hearth://join/abc", nil); !slices.Equal(got, []string{"an invite"}) {
		t.Errorf("an invite: found %v", got)
	}
	p := Phrase("one two three four")
	if got := Leaks("said two three four", p); !slices.Equal(got, []string{"words 2-4 of the recovery phrase"}) {
		t.Errorf("part of the phrase: found %v", got)
	}
}

func TestCrash(t *testing.T) {
	for _, out := range []string{"a\n==================\nWARNING: DATA RACE\nWrite at", "panic: runtime error: index out of range", "fatal error: concurrent map writes"} {
		if m, _ := Crash("log line\n" + out); m == "" {
			t.Errorf("no crash found in %q", out)
		}
	}
	if m, _ := Crash(`{"msg":"daemon stopped"}`); m != "" {
		t.Errorf("a crash %q in a clean output", m)
	}
}
