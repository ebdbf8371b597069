package test

import (
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var churnHold = flag.Duration("churn.hold", 40*time.Second, "how long TestPartitionsChurn holds its last partition, and every fifth")
var churnRounds = flag.Int("churn.rounds", 0, "rounds of TestPartitionsChurn (default 3; 2 with -short); the long run is 30")

// churnMsg is a message as 'room history --json' gives it, with what the
// convergence check compares.
type churnMsg struct {
	ID, Author, Text string
	Edited, Deleted  bool
	Time             time.Time
	Reactions        map[string][]string
}

// churnWant is what the test knows of one message whose send was
// acknowledged: its text after the edits that were acknowledged, whether
// a delete was, and the reactions that were.
type churnWant struct {
	author  int
	text    string
	edited  bool
	deleted bool
	reacts  map[string]string // emoji -> the reacting identity
	// What was tried and not acknowledged may still have been written
	// (the daemon was killed after writing it, before answering).
	maybeText    []string
	maybeDeleted bool
}

// TestPartitionsChurn: eight members of a room and a mirror, each in its
// own network namespace on one LAN (mDNS only, no bootstrap), with clocks
// that disagree by hours (one member 5 h ahead, one 7 h behind, the mirror
// 3 h behind). Each round splits the LAN into two sides at random
// (iptables in every host drops the other side), cuts one member's link
// altogether, and SIGKILLs another in the middle of its writes, while
// every member that is up sends, edits, deletes and reacts. The killed
// member restarts on its side; the members of each side must converge
// among themselves while the partition lasts. At the end the network
// heals: all eight converge on one view (same messages, order, edits,
// deletes and reactions), every acknowledged message is there exactly
// once with its last acknowledged edit, nothing is there twice, and a
// ninth device that joined at the start and stayed offline since reads
// the very same view from the mirror alone, every member being down.
// -churn.rounds=N for the long run.
func TestPartitionsChurn(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed: scripts/setup --test installs it")
	}
	rounds := *churnRounds
	if rounds == 0 {
		rounds = 3
		if testing.Short() {
			rounds = 2
		}
	}
	seed := time.Now().UnixNano()
	rng := mrand.New(mrand.NewPCG(uint64(seed), 9))
	t.Logf("seed %d, %d rounds", seed, rounds)

	const subnet, members = 5, 8
	hosts := lan(t, subnet, members+2)
	ipOf := func(host int) string { return fmt.Sprintf("10.77.%d.%d", subnet, host+1) }
	skew := map[int]string{2: "5h", 5: "-7h", members: "-3h", members + 1: "2h"}
	start := func(host int, name string, args ...string) *daemon {
		d := newHomeIn(t, hosts[host], name)
		d.args = args
		if s, ok := skew[host]; ok {
			d.env = []string{"HEARTH_CLOCK_SKEW=" + s}
		}
		d.start()
		t.Cleanup(d.stop)
		return d
	}
	mirror := start(members, "mirror", "--mirror")
	var peers []*daemon
	for i := range members {
		peers = append(peers, start(i, fmt.Sprintf("m%d", i)))
	}
	late := start(members+1, "late")
	owner := peers[0]

	var created struct{ Room, Discovery string }
	owner.json(&created, "room", "create", "churn")
	room := created.Room
	owner.run(0, "", "mirror", "keep", room, "--mirror", lanAddr(t, mirror, ipOf(members)))
	var inv struct{ Link string }
	owner.json(&inv, "room", "invite", room, "--uses", fmt.Sprint(members))
	for _, d := range append(peers[1:], late) {
		d.run(0, "", "room", "join", inv.Link)
	}
	ids := map[string]int{} // identity -> member
	for i, d := range peers {
		ids[d.identity()] = i
	}
	// The latecomer leaves once it has the room, before anything is said.
	churnConverge(t, room, 2*time.Minute, owner, late)
	late.stop()

	var mu sync.Mutex
	want := map[string]*churnWant{}
	var sent, edits, deletes, reacts, refused int
	emoji := []string{"👍", "❤", "😂", "🎉", "👀", "🔥", "🙏", "✅"}

	// act is one member's writing for a round: n operations, each acked
	// one recorded in want.
	act := func(i int, r *mrand.Rand, n, round int) {
		d := peers[i]
		for k := range n {
			mu.Lock()
			var mine, any []string
			for id, w := range want {
				if !w.deleted {
					any = append(any, id)
					if w.author == i {
						mine = append(mine, id)
					}
				}
			}
			slices.Sort(mine)
			slices.Sort(any)
			mu.Unlock()
			roll := r.IntN(100)
			switch {
			case roll < 15 && len(mine) > 0:
				id := mine[r.IntN(len(mine))]
				text := fmt.Sprintf("m%d r%d k%d edit", i, round, k)
				_, _, code := hearth(t, "", "room", "edit", room, id, text, "--home", d.home)
				mu.Lock()
				if code == 0 {
					want[id].text, want[id].edited, want[id].maybeText = text, true, nil
					edits++
				} else {
					want[id].maybeText = append(want[id].maybeText, text)
					refused++
				}
				mu.Unlock()
			case roll < 30 && len(any) > 0:
				id, e := any[r.IntN(len(any))], emoji[i]
				_, _, code := hearth(t, "", "room", "react", room, id, e, "--home", d.home)
				mu.Lock()
				if code == 0 && want[id].reacts[e] == "" {
					want[id].reacts[e] = d.identity()
					reacts++
				} else if code != 0 {
					refused++ // the member has not seen it yet, or it was deleted
				}
				mu.Unlock()
			case roll < 38 && (len(mine) > 0 || i == 0 && len(any) > 0):
				id := ""
				if i == 0 { // the owner, an admin, deletes anyone's
					id = any[r.IntN(len(any))]
				} else {
					id = mine[r.IntN(len(mine))]
				}
				_, _, code := hearth(t, "", "room", "delete", room, id, "--home", d.home)
				mu.Lock()
				if code == 0 {
					want[id].deleted = true
					deletes++
				} else {
					want[id].maybeDeleted = true
					refused++
				}
				mu.Unlock()
			default:
				text := fmt.Sprintf("m%d r%d k%d", i, round, k)
				out, _, code := hearth(t, "", "room", "send", room, text, "--home", d.home, "--json")
				var s struct{ ID string }
				if code == 0 && json.Unmarshal([]byte(out), &s) == nil && s.ID != "" {
					mu.Lock()
					want[s.ID] = &churnWant{author: i, text: text, reacts: map[string]string{}}
					sent++
					mu.Unlock()
				}
			}
		}
	}

	inNS := func(host int, args ...string) {
		sh(t, append([]string{"ip", "netns", "exec", hosts[host]}, args...)...)
	}
	heal := func() {
		for h := range members + 1 {
			inNS(h, "iptables", "-F", "INPUT")
			inNS(h, "iptables", "-F", "OUTPUT")
			sh(t, "ip", "-n", hosts[h], "link", "set", "eth0", "up")
		}
	}
	t.Cleanup(func() {
		for _, ns := range hosts {
			exec.Command("ip", "netns", "exec", ns, "iptables", "-F").Run()
		}
	})

	for round := range rounds {
		// Two sides, each of at least two of the nine hosts.
		order := rng.Perm(members + 1)
		cut := 2 + rng.IntN(members-2)
		side := [2][]int{order[:cut], order[cut:]}
		for s := range 2 {
			var other []string
			for _, h := range side[1-s] {
				other = append(other, ipOf(h))
			}
			drop := strings.Join(other, ",")
			for _, h := range side[s] {
				inNS(h, "iptables", "-A", "INPUT", "-s", drop, "-j", "DROP")
				inNS(h, "iptables", "-A", "OUTPUT", "-d", drop, "-j", "DROP")
			}
		}
		// One member alone, its link down; another killed mid-round.
		alone := rng.IntN(members)
		killed := (alone + 1 + rng.IntN(members-1)) % members
		sh(t, "ip", "-n", hosts[alone], "link", "set", "eth0", "down")
		t.Logf("round %d: sides %v | %v (host %d is the mirror), m%d cut off, m%d killed", round, side[0], side[1], members, alone, killed)

		var wg sync.WaitGroup
		for i := range members {
			r := mrand.New(mrand.NewPCG(rng.Uint64(), uint64(i)))
			wg.Go(func() { act(i, r, 6, round) })
		}
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		peers[killed].kill()
		wg.Wait()
		peers[killed].start()

		// Each side converges by itself, the cut-off member and the
		// mirror aside.
		for s := range 2 {
			var ds []*daemon
			for _, h := range side[s] {
				if h < members && h != alone {
					ds = append(ds, peers[h])
				}
			}
			if len(ds) > 1 {
				el := churnConverge(t, room, 2*time.Minute, ds...)
				t.Logf("round %d: side %d (%d members) converged in %v", round, s, len(ds), el.Round(time.Millisecond))
			}
			// Nothing written this round crossed the partition.
			for _, d := range ds {
				for _, m := range d.churnHistory(room) {
					var who, rd int
					if _, err := fmt.Sscanf(m.Text, "m%d r%d", &who, &rd); err == nil && rd == round &&
						(who == alone || !slices.Contains(side[s], who)) {
						t.Errorf("round %d: %s, on side %d, has %q, written by m%d across the partition", round, d.name, s, m.Text, who)
					}
				}
			}
		}
		if round == rounds-1 || round%5 == 4 {
			// A partition long enough that the connections across it
			// die (yamux and QUIC give up after about 30 s) and the
			// dials across it fail and back off.
			across := func() int {
				n := 0
				for _, h := range side[0] {
					if h == alone {
						continue
					}
					d := mirror
					if h < members {
						d = peers[h]
					}
					var st struct{ Connections []struct{ Addr string } }
					d.json(&st, "status")
					for _, c := range st.Connections {
						for _, o := range side[1] {
							if strings.HasPrefix(c.Addr, "/ip4/"+ipOf(o)+"/") {
								n++
							}
						}
					}
				}
				return n
			}
			before := across()
			time.Sleep(*churnHold)
			t.Logf("round %d: the partition held %v; connections across it: %d before, %d after", round, *churnHold, before, across())
		}
		heal()
	}

	el := churnConverge(t, room, 3*time.Minute, peers...)
	final := peers[0].churnHistory(room)
	t.Logf("healed: all %d members converged on %d messages in %v; acknowledged: %d sends, %d edits, %d deletes, %d reactions; %d refused (not yet seen there, or deleted)",
		members, len(final), el.Round(time.Millisecond), sent, edits, deletes, reacts, refused)
	checkChurnView(t, final, want, ids)
	now := time.Now()
	for _, m := range final {
		i, ok := ids[m.Author]
		if !ok || m.Deleted {
			continue
		}
		off := map[int]time.Duration{2: 5 * time.Hour, 5: -7 * time.Hour}[i]
		if d := m.Time.Sub(now.Add(off)); d > 30*time.Minute || d < -30*time.Minute {
			t.Errorf("m%d's message %s is dated %v, want about %v", i, m.ID, m.Time, now.Add(off))
		}
	}

	// The mirror takes the rest from the members; then every member goes
	// down and the latecomer reads the room from the mirror alone.
	entries, stable := uint64(0), time.Now()
	for time.Since(stable) < 5*time.Second {
		if n := mirrorEntries(mirror, "", created.Discovery); n != entries {
			entries, stable = n, time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, d := range peers {
		d.stop()
	}
	late.start()
	begin := time.Now()
	deadline := begin.Add(2 * time.Minute)
	for {
		h := late.churnHistory(room)
		if churnEqual(h, final) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the latecomer has %d messages from the mirror (%d entries), want the %d the members agreed on", len(h), entries, len(final))
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("the latecomer read all %d messages from the mirror (%d entries) in %v, every member down",
		len(final), entries, time.Since(begin).Round(time.Millisecond))
}

// lanAddr is d's TCP address on the namespace LAN's ip.
func lanAddr(t *testing.T, d *daemon, ip string) string {
	t.Helper()
	for _, a := range d.addrs {
		if strings.HasPrefix(a, "/ip4/"+ip+"/tcp/") {
			return a
		}
	}
	t.Fatalf("%s has no TCP address on %s: %v", d.name, ip, d.addrs)
	return ""
}

func (d *daemon) churnHistory(room string) []churnMsg {
	d.t.Helper()
	var h struct{ Messages []churnMsg }
	d.json(&h, "room", "history", room)
	return h.Messages
}

func churnEqual(a, b []churnMsg) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// churnConverge waits until every daemon's history of room is the same,
// and returns how long that took.
func churnConverge(t *testing.T, room string, within time.Duration, ds ...*daemon) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		first := ds[0].churnHistory(room)
		same := true
		for _, d := range ds[1:] {
			if same = churnEqual(d.churnHistory(room), first); !same {
				break
			}
		}
		if same {
			return time.Since(begin)
		}
		if time.Since(begin) > within {
			for _, d := range ds {
				t.Logf("%s: %d messages", d.name, len(d.churnHistory(room)))
			}
			t.Fatalf("%d daemons did not converge within %v", len(ds), within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkChurnView checks the converged view against what was acknowledged.
func checkChurnView(t *testing.T, view []churnMsg, want map[string]*churnWant, ids map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	texts := map[string]bool{}
	for _, m := range view {
		if seen[m.ID] {
			t.Errorf("message %s is there twice", m.ID)
		}
		seen[m.ID] = true
		if !m.Deleted {
			if texts[m.Text] {
				t.Errorf("the text %q is there twice", m.Text)
			}
			texts[m.Text] = true
		}
	}
	byID := map[string]churnMsg{}
	for _, m := range view {
		byID[m.ID] = m
	}
	for id, w := range want {
		m, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("acknowledged message %s (%q) is lost", id, w.text)
		case ids[m.Author] != w.author:
			t.Errorf("message %s: author %s, want m%d", id, m.Author, w.author)
		case w.deleted:
			if !m.Deleted {
				t.Errorf("message %s: its delete was acknowledged, but it is there: %q", id, m.Text)
			}
		case m.Deleted:
			if !w.maybeDeleted {
				t.Errorf("message %s (%q) is deleted, but nobody deleted it", id, w.text)
			}
		case slices.Contains(w.maybeText, m.Text) && m.Edited:
			// An edit written by a daemon killed before it answered.
		case m.Text != w.text || m.Edited != w.edited:
			t.Errorf("message %s: %q (edited %v), want %q (edited %v)", id, m.Text, m.Edited, w.text, w.edited)
		default:
			for e, who := range w.reacts {
				if !slices.Contains(m.Reactions[e], who) {
					t.Errorf("message %s: the reaction %s of %s is lost: %v", id, e, who, m.Reactions)
				}
			}
		}
	}
}
