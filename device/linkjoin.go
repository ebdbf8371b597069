package device

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/device/rooms/roomdb"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/secfile"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/pairing"
)

// Device linking, on the new device: 'device join LINK' runs without a
// daemon (the home has no identity yet). It asks the linking device
// directly, or leaves its request in the mailboxes the link names and waits
// for the answer there; the request and its keys are kept in the home, so
// running the command again later picks up the answer.

// pendingLinkFile holds a link request waiting for its answer (mode 0600:
// it holds this device's future keys).
const pendingLinkFile = "link-pending.json"

// LinkJoinConfig is what LinkJoin needs.
type LinkJoinConfig struct {
	Home      string
	Link      string
	Name      string // this device's name; empty means the host name
	Listen    []string
	Bootstrap []string
	NoMDNS    bool
	// Wait bounds how long to wait for an answer in mailboxes.
	Wait     time.Duration
	Logger   *slog.Logger
	Progress func(string)
	Now      func() time.Time
}

// LinkResult is what LinkJoin did.
type LinkResult struct {
	Linked    bool     `json:"linked"`
	Pending   bool     `json:"pending,omitempty"`
	Identity  string   `json:"identity,omitempty"`
	Device    string   `json:"device,omitempty"`
	Rooms     int      `json:"rooms"`
	Mailboxes []string `json:"mailboxes,omitempty"`
}

type pendingLink struct {
	Seed      string       `json:"seed"` // hex
	Device    string       `json:"device"`
	Sealing   string       `json:"sealing"`
	Ephemeral string       `json:"ephemeral"`
	AnswerBox mirror.BoxID `json:"answer_box"`
	Mailboxes []string     `json:"mailboxes"`
	Name      string       `json:"name"`
}

// ErrLinkRefused: the other device refused the link.
var ErrLinkRefused = errors.New("the link was refused")

// LinkJoin links this home's new device to an identity with a device link.
func LinkJoin(ctx context.Context, cfg LinkJoinConfig) (*LinkResult, error) {
	log := logattr.OrDiscard(cfg.Logger)
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	inv, hint, err := pairing.ParseDeviceLink(cfg.Link)
	if err != nil {
		return nil, err
	}
	if identity.Exists(cfg.Home) {
		return nil, fmt.Errorf("%w in %s: a device link makes a new device; use an empty home (--home DIR)", identity.ErrIdentityExists, cfg.Home)
	}
	if err := secfile.EnsureDir(cfg.Home); err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	lock, err := acquireLock(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer lock.release()

	pl, dev, sealing, eph, err := loadPendingLink(cfg.Home, inv)
	if err != nil {
		return nil, err
	}
	if pl == nil {
		name := cfg.Name
		if name == "" {
			name, _ = os.Hostname()
		}
		if len(name) > identity.MaxDeviceName {
			name = name[:identity.MaxDeviceName]
		}
		if dev, err = identity.GenerateSigningKey(); err != nil {
			return nil, err
		}
		if sealing, err = identity.GenerateSealingKey(); err != nil {
			return nil, err
		}
		pl = &pendingLink{Name: name}
	}
	rec, err := identity.NewDeviceRecord(identity.PublicKey{}, dev, sealing.Public(), pl.Name, now())
	if err != nil {
		return nil, err
	}
	recBytes, err := rec.MarshalBinary()
	if err != nil {
		return nil, err
	}
	node, err := hnet.New(hnet.Config{Key: dev, Listen: cfg.Listen, Bootstrap: cfg.Bootstrap, NoMDNS: cfg.NoMDNS, Logger: log})
	if err != nil {
		return nil, err
	}
	defer node.Close()
	var hints []peer.ID
	for _, h := range strings.Split(hint, ",") {
		if p, err := peer.Decode(h); err == nil {
			hints = append(hints, p)
		}
	}
	finish := func(a *pairing.LinkAnswer) (*LinkResult, error) {
		os.Remove(filepath.Join(cfg.Home, pendingLinkFile))
		if !a.OK {
			return nil, fmt.Errorf("%w: %s", ErrLinkRefused, a.Reason)
		}
		return finishLink(cfg.Home, a, dev, sealing, pl.Name, now())
	}

	if len(pl.Mailboxes) == 0 {
		// First try: the linking device, directly.
		say("asking the other device directly...")
		sealed, e, err := pairing.NewLinkRequest(inv, dev, recBytes, pl.Name, now())
		if err != nil {
			return nil, err
		}
		a, _, err := pairing.AskLink(ctx, node.Host, hints, inv, sealed, e, pairing.LinkAsk{Reach: node.Reach, Timeout: 15 * time.Second,
			Failed: func(p peer.ID, err error) {
				log.Debug("direct link attempt", logattr.Peer(p.String()), logattr.Err(err))
			}})
		if err == nil {
			return finish(a)
		}
		// Then the mailboxes: the request waits there for the device.
		say("the other device is offline: leaving the request in the mirrors' mailboxes...")
		sealed, eph, err = pairing.NewLinkRequest(inv, dev, recBytes, pl.Name, now())
		if err != nil {
			return nil, err
		}
		pl.AnswerBox = mirror.AnswerBox(eph.Public().Bytes())
		pub, sig := inv.SignDeposit(pl.AnswerBox, sealed)
		cands := append([]peer.ID{}, hints...)
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		for _, ai := range node.FindPeers(fctx, mirror.MailboxTopic(mirror.BoxID(inv.ID())), 8) {
			node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			cands = append(cands, ai.ID)
		}
		cancel()
		seen := map[peer.ID]bool{}
		for _, p := range cands {
			if seen[p] {
				continue
			}
			seen[p] = true
			actx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := node.Reach(actx, p)
			if err == nil {
				_, err = mirror.Ask(actx, node.Host, p, mirror.Request{Op: mirror.OpBoxPut, Box: mirror.BoxID(inv.ID()),
					Sealed: sealed, Answer: pl.AnswerBox, InviteKey: pub, Sig: sig})
			}
			cancel()
			if err == nil {
				pl.Mailboxes = append(pl.Mailboxes, p.String())
			}
		}
		if len(pl.Mailboxes) == 0 {
			return nil, errors.New("the other device is offline and no mirror holds a mailbox for this link: start hearth on the other device, or make a new link there")
		}
		if err := savePendingLink(cfg.Home, inv, pl, dev, sealing, eph); err != nil {
			return nil, err
		}
	}

	say(fmt.Sprintf("waiting for the other device to answer (request left with %d mirror(s))...", len(pl.Mailboxes)))
	deadline := now().Add(cfg.Wait)
	for {
		for _, s := range pl.Mailboxes {
			p, err := peer.Decode(s)
			if err != nil {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = node.Reach(actx, p)
			var resp *mirror.Response
			if err == nil {
				resp, err = mirror.Ask(actx, node.Host, p, mirror.Request{Op: mirror.OpBoxFetch, Box: pl.AnswerBox})
			}
			cancel()
			if err != nil {
				continue
			}
			for _, sealed := range resp.Answers {
				a, err := pairing.OpenLinkAnswer(eph, inv.ID(), sealed)
				if err != nil || !a.Matches(inv.Tag()) {
					log.Info("an answer in a mailbox does not open or is for another identity: ignored", logattr.Peer(s))
					continue
				}
				return finish(a)
			}
		}
		if !now().Before(deadline) {
			return &LinkResult{Pending: true, Mailboxes: pl.Mailboxes}, nil
		}
		select {
		case <-ctx.Done():
			return &LinkResult{Pending: true, Mailboxes: pl.Mailboxes}, nil
		case <-time.After(2 * time.Second):
		}
	}
}

// finishLink writes the identity and the rooms the answer carries.
func finishLink(home string, a *pairing.LinkAnswer, dev identity.SigningKey, sealing identity.SealingKey, name string, now time.Time) (*LinkResult, error) {
	proof, err := identity.ParseProof(a.Proof)
	if err != nil {
		return nil, fmt.Errorf("the link answer's proof: %w", err)
	}
	db, err := openHomeDB(home)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, lr := range a.Rooms {
		if err := roomdb.SaveLinked(db, lr, now); err != nil {
			return nil, err
		}
	}
	if _, err := identity.SetupLinked(home, a.Identity, dev, sealing, proof, name, now); err != nil {
		return nil, fmt.Errorf("writing the identity: %w", err)
	}
	return &LinkResult{Linked: true, Identity: a.Identity.String(), Device: dev.Public().String(), Rooms: len(a.Rooms)}, nil
}

func loadPendingLink(home string, inv pairing.Invite) (*pendingLink, identity.SigningKey, identity.SealingKey, identity.SealingKey, error) {
	var zero identity.SigningKey
	var zs identity.SealingKey
	b, err := secfile.Read(filepath.Join(home, pendingLinkFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, zero, zs, zs, nil
	}
	if err != nil {
		return nil, zero, zs, zs, err
	}
	var pl pendingLink
	if err := json.Unmarshal(b, &pl); err != nil {
		return nil, zero, zs, zs, fmt.Errorf("%s is damaged: %w (remove it to start over)", pendingLinkFile, err)
	}
	seed := inv.Seed()
	if pl.Seed != hex.EncodeToString(seed[:]) {
		return nil, zero, zs, zs, nil // another link: start over with it
	}
	dec := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	dev, err := identity.NewSigningKey(dec(pl.Device))
	if err != nil {
		return nil, zero, zs, zs, err
	}
	sealing, err := identity.ParseSealingKey(dec(pl.Sealing))
	if err != nil {
		return nil, zero, zs, zs, err
	}
	eph, err := identity.ParseSealingKey(dec(pl.Ephemeral))
	if err != nil {
		return nil, zero, zs, zs, err
	}
	return &pl, dev, sealing, eph, nil
}

func savePendingLink(home string, inv pairing.Invite, pl *pendingLink, dev identity.SigningKey, sealing, eph identity.SealingKey) error {
	seed := inv.Seed()
	pl.Seed = hex.EncodeToString(seed[:])
	pl.Device = hex.EncodeToString(dev.Seed())
	sb, err := sealing.Bytes()
	if err != nil {
		return err
	}
	eb, err := eph.Bytes()
	if err != nil {
		return err
	}
	pl.Sealing, pl.Ephemeral = hex.EncodeToString(sb), hex.EncodeToString(eb)
	b, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	return secfile.Write(filepath.Join(home, pendingLinkFile), b, false)
}
