package call

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var testRoom = [16]byte{1, 2, 3}

func mustMarshal(t *testing.T, s Signal) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignalRoundTrip(t *testing.T) {
	for _, s := range []Signal{
		{Kind: Ring, Call: NewID(), Room: testRoom, Media: Audio | Video},
		{Kind: Accept, Call: NewID(), Media: Audio},
		{Kind: Decline, Call: NewID(), Reason: "busy cooking"},
		{Kind: Offer, Call: NewID(), SDP: "v=0\r\n"},
		{Kind: Candidate, Call: NewID(), Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", Mid: "0", MLine: 3},
		{Kind: Hangup, Call: NewID()},
		{Kind: Ring, Call: NewID(), Room: testRoom, Media: Audio, Group: NewID()},
		{Kind: Roster, Call: NewID(), Peers: []string{"12D3KooWA", "12D3KooWB"}},
	} {
		b := mustMarshal(t, s)
		var got Signal
		if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("%v: %+v %v", s.Kind, got, err)
		}
	}
	bad := []Signal{
		{Kind: 0},
		{Kind: 42},
		{Kind: Ring, Media: 8},
		{Kind: Offer},
		{Kind: Offer, SDP: strings.Repeat("x", MaxSDP+1)},
		{Kind: Decline, Reason: strings.Repeat("x", MaxReason+1)},
		{Kind: Roster, Peers: []string{"a", "b", "c", "d"}},
		{Kind: Roster, Peers: []string{""}},
	}
	for _, s := range bad {
		if _, err := s.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%+v: %v", s, err)
		}
	}
}

func FuzzSignal(f *testing.F) {
	for _, s := range []Signal{
		{Kind: Ring, Call: ID{1}, Room: testRoom, Media: Audio | Video},
		{Kind: Candidate, Call: ID{2}, Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", Mid: "0"},
		{Kind: Offer, Call: ID{3}, SDP: "v=0"},
	} {
		b, _ := s.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Signal
		if s.UnmarshalBinary(b) != nil {
			return
		}
		b2, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded signal does not encode: %v", err)
		}
		var s2 Signal
		if err := s2.UnmarshalBinary(b2); err != nil || !reflect.DeepEqual(s2, s) {
			t.Fatal("round trip")
		}
		_ = fmt.Sprint(s.Kind)
	})
}
