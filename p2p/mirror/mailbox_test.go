package mirror

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/storage"
)

func openBoxes(t *testing.T, dir string, now func() time.Time) (*Mailboxes, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "m.db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenMailboxes(db, func(identity.PublicKey) bool { return false }, now, nil)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return m, db
}

// request makes a candidate's sealed request for inv and the deposit
// fields.
func request(t *testing.T, inv pairing.Invite) (sealed []byte, eph identity.SealingKey, answer BoxID, pub identity.PublicKey, sig [64]byte) {
	t.Helper()
	id, self := newSelf(t)
	sealed, eph, err := pairing.NewRequest(inv, id.Public(), self.Device, self.Proof, self.Record, "cand", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	answer = AnswerBox(eph.Public().Bytes())
	pub, sig = inv.SignDeposit(answer, sealed)
	return sealed, eph, answer, pub, sig
}

func TestMailboxRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	m, db := openBoxes(t, dir, clock)
	opener, _ := identity.GenerateSigningKey()
	inv := pairing.NewInvite()
	box := BoxID(inv.ID())

	sealed, eph, answer, pub, sig := request(t, inv)
	if err := m.Put(box, sealed, answer, pub, sig); !errors.Is(err, ErrNoBox) {
		t.Fatalf("deposit before the box is open: %v", err)
	}
	admin2, _ := identity.GenerateSigningKey()
	if err := m.Open(box, opener.Public(), "", now.Add(-time.Second), nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("a box for an expired invite: %v", err)
	}
	if err := m.Open(box, opener.Public(), "", now.Add(time.Hour), []identity.PublicKey{admin2.Public()}); err != nil {
		t.Fatal(err)
	}
	// Nobody else renews it or names its answerers.
	stranger, _ := identity.GenerateSigningKey()
	if err := m.Open(box, stranger.Public(), "", now.Add(time.Hour), []identity.PublicKey{stranger.Public()}); !errors.Is(err, ErrDenied) {
		t.Fatalf("a stranger renewed another identity's box: %v", err)
	}
	if err := m.Put(box, sealed, answer, pub, sig); err != nil {
		t.Fatal(err)
	}

	// A request forged without the invite key is refused.
	other := pairing.NewInvite()
	fpub, fsig := other.SignDeposit(answer, sealed)
	if err := m.Put(box, sealed, BoxID{1}, fpub, fsig); !errors.Is(err, ErrDenied) {
		t.Fatalf("deposit signed with another invite: %v", err)
	}
	if err := m.Put(box, append([]byte{}, sealed[1:]...), BoxID{2}, pub, sig); !errors.Is(err, ErrDenied) {
		t.Fatalf("deposit whose signature does not cover it: %v", err)
	}

	// Survives a restart.
	db.Close()
	m, db = openBoxes(t, dir, clock)
	defer db.Close()
	es, err := m.Requests(box)
	if err != nil || len(es) != 1 || es[0].AnswerBox != answer {
		t.Fatalf("requests: %+v, %v", es, err)
	}

	// The admin answers; a second holder of the invite opens the request
	// too, finds the answer box, but cannot open the answer.
	req, err := pairing.OpenRequest(inv, es[0].Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if AnswerBox(req.Ephemeral) != es[0].AnswerBox {
		t.Fatal("the answer box is not the request's")
	}
	ans, err := pairing.SealAnswer(req, &pairing.Answer{OK: true, Name: "the room"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Fetch(answer); len(got) != 0 {
		t.Fatal("an answer before anyone answered")
	}
	// A holder of the invite who is no admin of the room cannot answer,
	// so cannot mark the request answered.
	if err := m.Answer(answer, stranger.Public(), []byte("junk")); !errors.Is(err, ErrDenied) {
		t.Fatalf("a stranger answered: %v", err)
	}
	if es, _ := m.Requests(box); es[0].Answered {
		t.Fatal("a stranger's answer marked the request answered")
	}
	if err := m.Answer(answer, opener.Public(), ans); err != nil {
		t.Fatal(err)
	}
	// Another admin the opener named may answer too (the candidate keeps
	// the answer for the room its link names), a bounded number of times.
	for i := 1; i < MaxAnswers; i++ {
		if err := m.Answer(answer, admin2.Public(), []byte{byte(i), 'x'}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Answer(answer, opener.Public(), []byte("one answer too many")); !errors.Is(err, ErrDenied) {
		t.Fatalf("a box took %d answers: %v", MaxAnswers+1, err)
	}
	all, err := m.Fetch(answer)
	if err != nil || len(all) != MaxAnswers {
		t.Fatalf("fetch: %d answers, %v", len(all), err)
	}
	got := all[0]
	_, otherEph, _, _, _ := request(t, inv)
	if _, err := pairing.OpenAnswer(otherEph, inv.ID(), got); err == nil {
		t.Fatal("a second holder of the invite opened the answer")
	}
	a, err := pairing.OpenAnswer(eph, inv.ID(), got)
	if err != nil || !a.OK || a.Name != "the room" {
		t.Fatalf("the candidate opens %+v, %v", a, err)
	}
	if es, _ := m.Requests(box); !es[0].Answered {
		t.Fatal("the request is not marked answered")
	}

	// Expiry takes the boxes away.
	now = now.Add(2 * time.Hour)
	if _, err := m.Requests(box); !errors.Is(err, ErrNoBox) {
		t.Fatalf("an expired box: %v", err)
	}
	if _, err := m.Fetch(answer); !errors.Is(err, ErrNoBox) {
		t.Fatalf("an expired answer box: %v", err)
	}
}

func TestMailboxBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m, db := openBoxes(t, t.TempDir(), func() time.Time { return now })
	defer db.Close()
	opener, _ := identity.GenerateSigningKey()
	inv := pairing.NewInvite()
	box := BoxID(inv.ID())
	if err := m.Open(box, opener.Public(), "", now.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	// A flood by a holder of the invite fills the box and stops there.
	for i := range MaxBoxEntries + 5 {
		sealed := []byte{byte(i), byte(i >> 8), 1, 2, 3}
		answer := BoxID{byte(i), byte(i >> 8), 9}
		pub, sig := inv.SignDeposit(answer, sealed)
		err := m.Put(box, sealed, answer, pub, sig)
		if i < MaxBoxEntries && err != nil {
			t.Fatal(err)
		}
		if i >= MaxBoxEntries && !errors.Is(err, ErrBoxFull) {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	// Oversized entries are refused before anything else.
	big := make([]byte, pairing.MaxRequest+1)
	pub, sig := inv.SignDeposit(BoxID{}, big)
	if err := m.Put(box, big, BoxID{}, pub, sig); err == nil {
		t.Fatal("an oversized request was kept")
	}
	// One identity opens a bounded number of boxes, and so does one peer
	// whatever identities it shows.
	for i := range MaxBoxesPerOpener + 1 {
		err := m.Open(BoxID{byte(i), 7, 7}, opener.Public(), "", now.Add(time.Hour), nil)
		if i < MaxBoxesPerOpener-1 && err != nil {
			t.Fatal(err)
		}
		if i == MaxBoxesPerOpener && !errors.Is(err, ErrBoxLimit) {
			t.Fatalf("box %d: %v", i, err)
		}
	}
	for i := range MaxBoxesPerOpener + 1 {
		id, _ := identity.GenerateSigningKey()
		err := m.Open(BoxID{byte(i), 8, 8}, id.Public(), "the same peer", now.Add(time.Hour), nil)
		if i < MaxBoxesPerOpener && err != nil {
			t.Fatal(err)
		}
		if i == MaxBoxesPerOpener && !errors.Is(err, ErrBoxLimit) {
			t.Fatalf("box %d of one peer: %v", i, err)
		}
	}
	// A stranger's box lives a week at most.
	if err := m.Open(BoxID{42}, identity.PublicKey{42}, "", now.Add(MaxBoxLife), nil); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	exp := m.boxes[BoxID{42}].Expires
	m.mu.Unlock()
	if exp != now.Add(MaxStrangerBoxLife).UnixMilli() {
		t.Fatalf("a stranger's box expires %v", time.UnixMilli(exp).Sub(now))
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add((&Request{Op: OpKeep, Proof: []byte{1, 2}, Pin: true}).encode())
	f.Add((&Request{Op: OpBoxPut, Sealed: []byte("sealed"), Expires: 12}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		r2, err := decodeRequest(r.encode())
		if err != nil || r2.Op != r.Op || string(r2.Sealed) != string(r.Sealed) || r2.Expires != r.Expires {
			t.Fatalf("round trip: %+v / %+v, %v", r, r2, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add((&Response{status: statusOK, Rooms: []Info{{Bytes: 3, Kept: time.UnixMilli(5)}}}).encode())
	f.Add((&Response{status: statusFull, message: "full", Entries: []Entry{{Sealed: []byte("x"), Time: 4}}, Answers: [][]byte{[]byte("y")}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(b)
		if err != nil {
			return
		}
		if _, err := decodeResponse(r.encode()); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}
