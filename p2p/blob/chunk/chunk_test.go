package chunk

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestManifestAndChunks(t *testing.T) {
	data := make([]byte, 3*Size+12345)
	rand.Read(data)
	var cts [][]byte
	m, hs, err := Encrypt(bytes.NewReader(data), int64(len(data)), func(i int, ct []byte) error {
		if i != len(cts) {
			t.Fatalf("chunk %d handed over after %d", i, len(cts))
		}
		cts = append(cts, ct)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Name, m.Type = "holiday.mp4", "video/mp4"
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ParseManifest(b)
	if err != nil || *m2 != *m {
		t.Fatalf("round trip: %+v, %v", m2, err)
	}
	if CheckHashes(m, hs) != nil || len(hs) != 4 {
		t.Fatalf("hashes: %d", len(hs))
	}
	for i, ct := range cts {
		if Sum(ct) != hs[i] {
			t.Fatalf("hash %d is not its chunk's", i)
		}
	}
	swapped := append([]Hash{hs[1], hs[0]}, hs[2:]...)
	if CheckHashes(m, hs[:3]) == nil || CheckHashes(m, swapped) == nil {
		t.Fatal("a wrong hash list checked")
	}
	var got []byte
	for i := range m.Chunks() {
		ct := cts[i]
		plain, err := Open(m, i, ct)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, plain...)
		// A chunk cannot be moved to another place.
		if i > 0 {
			if _, err := Open(m, i-1, ct); err == nil {
				t.Fatal("a chunk opened at another index")
			}
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}
	for _, bad := range []Manifest{
		{Name: "x", Size: -1, ChunkSize: Size},
		{Name: "x", Size: MaxFileSize + 1, ChunkSize: Size},
		{Name: "x", Size: 10, ChunkSize: 1000},
		{Name: "", Size: 10, ChunkSize: Size},
		{Name: strings.Repeat("n", MaxNameLen+1), Size: 10, ChunkSize: Size},
		{Name: "bad\xff", Size: 10, ChunkSize: Size},
	} {
		if _, err := bad.MarshalBinary(); !errors.Is(err, ErrManifest) {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"holiday.mp4":        "holiday.mp4",
		"../../etc/passwd":   "passwd",
		"/etc/shadow":        "shadow",
		"..":                 "file",
		".bashrc":            "bashrc",
		"a\\b\\c.txt":        "c.txt",
		"new\nline\x00.txt":  "new_line_.txt",
		"":                   "file",
		"dir/../../x.png":    "x.png",
		"  . hidden  ":       "hidden  ",
		"\u202eexe.txt":      "\u202eexe.txt",
		"ok name (1).tar.gz": "ok name (1).tar.gz",
	} {
		got := SafeName(in)
		if got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, "/\\\x00") || got == ".." || got == "." {
			t.Errorf("SafeName(%q) = %q is unsafe", in, got)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	m := &Manifest{Name: "a.mp4", Type: "video/mp4", Size: 5 << 20, ChunkSize: Size}
	b, _ := m.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if m.Chunks() > MaxChunks || m.Size > MaxFileSize {
			t.Fatalf("absurd manifest accepted: %+v", m)
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if m2, err := ParseManifest(again); err != nil || *m2 != *m {
			t.Fatal("round trip")
		}
	})
}
