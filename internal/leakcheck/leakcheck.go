// Package leakcheck finds, in a program's output, the marks of a crash
// (a data race, a panic, a fatal runtime error) and any of the secrets
// the program holds, in every form a log line could print them in. The
// tests of every package that runs a daemon use it on the daemon's whole
// output, however the daemon ended.
package leakcheck

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// crashMarks are what the race detector and the Go runtime print when a
// program races, panics or dies of a fatal error.
var crashMarks = []string{"WARNING: DATA RACE", "panic: ", "fatal error: ", "[signal SIG"}

// Crash returns an excerpt of out around the first mark of a data race,
// a panic or a fatal runtime error, and the mark; "" if there is none.
func Crash(out string) (mark, excerpt string) {
	for _, m := range crashMarks {
		if i := strings.Index(out, m); i >= 0 {
			return strings.TrimSpace(m), out[max(0, i-2000):min(len(out), i+8000)]
		}
	}
	return "", ""
}

// Secret is one secret a program holds.
type Secret struct {
	b    []byte
	text bool
}

// Text is a secret looked for as it is: words, a password, a token.
func Text(s string) Secret { return Secret{b: []byte(s), text: true} }

// Key is a secret of raw bytes, looked for in every form a log could
// print it in: hex (either case), base64 (any padding, either alphabet),
// as Go prints a byte slice.
func Key(b []byte) Secret { return Secret{b: append([]byte(nil), b...)} }

// forms are the strings whose presence in a log means the secret leaked:
// a stretch from the middle of each printed form, long enough never to
// occur by chance.
func (s Secret) forms() []string {
	if s.text {
		return []string{string(s.b)}
	}
	mid := func(x string) string {
		if len(x) <= 24 {
			return x
		}
		return x[len(x)/2-12 : len(x)/2+12]
	}
	forms := []string{
		mid(hex.EncodeToString(s.b)),
		mid(strings.ToUpper(hex.EncodeToString(s.b))),
		// Base64 of the same bytes is the same in its middle whatever
		// the padding; the two alphabets differ in two characters.
		mid(base64.RawStdEncoding.EncodeToString(s.b)),
		mid(base64.RawURLEncoding.EncodeToString(s.b)),
	}
	if len(s.b) >= 12 {
		forms = append(forms, strings.Trim(fmt.Sprint(s.b[:12]), "[]"))
	}
	return forms
}

// Prefixes of what carries a secret whatever follows: an invite and a
// device link carry the pairing secret, a page link its token.
var prefixes = map[string]string{"an invite": "hearth://join/", "a device link": "hearth://link/", "a link to the page with its token": "#token="}

// Leaks returns what each secret found in out is (its name in secrets),
// sorted.
func Leaks(out string, secrets map[string]Secret) []string {
	var found []string
	for what, s := range secrets {
		if len(s.b) == 0 {
			continue
		}
		for _, f := range s.forms() {
			if f != "" && strings.Contains(out, f) {
				found = append(found, what)
				break
			}
		}
	}
	for what, p := range prefixes {
		if strings.Contains(out, p) {
			found = append(found, what)
		}
	}
	sort.Strings(found)
	return found
}

// Phrase returns a recovery phrase's secrets: any three of its words in a
// row (a log holding part of the phrase holds too much).
func Phrase(phrase string) map[string]Secret {
	out := map[string]Secret{}
	w := strings.Fields(phrase)
	for i := 0; i+3 <= len(w); i++ {
		out[fmt.Sprintf("words %d-%d of the recovery phrase", i+1, i+3)] = Text(strings.Join(w[i:i+3], " "))
	}
	return out
}

// Output is a program's output as it is written (by the copier of
// os/exec, or a logger) while a test may read it.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
