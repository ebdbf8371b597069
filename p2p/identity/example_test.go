package identity_test

import (
	"fmt"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// A phrase gives the identity key Keet derives from the same words.
func ExampleDeriveIdentity() {
	phrase, err := identity.ParsePhrase("abandon abandon abandon abandon abandon abandon abandon abandon " +
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
		"abandon abandon abandon art")
	if err != nil {
		fmt.Println(err)
		return
	}
	seed := phrase.Seed("")
	key := identity.DeriveIdentity(seed)
	seed.Wipe()
	defer key.Wipe()
	fmt.Println(key.Public())
	fmt.Println(key) // secrets never print
	// Output:
	// b2f747352c376aa668f06631a475462a23647e32715b8b33da05bf9cf442fa1c
	// SigningKey(redacted)
}

// An identity attests a device; anyone can check the proof with the
// identity's public key alone.
func ExampleProof_Verify() {
	phrase, _ := identity.ParsePhrase("abandon abandon abandon abandon abandon abandon abandon abandon " +
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
		"abandon abandon abandon art")
	id := identity.DeriveIdentity(phrase.Seed(""))
	device, _ := identity.GenerateSigningKey()
	proof := identity.NewProof(id, device.Public(), 1_700_000_000)
	id.Wipe()

	b, _ := proof.MarshalBinary()
	received, err := identity.ParseProof(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := received.Verify(identity.VerifyOptions{Identity: proof.Identity, MinEpoch: 1_700_000_000})
	fmt.Println(got == device.Public(), err)
	_, err = received.Verify(identity.VerifyOptions{MinEpoch: 1_800_000_000})
	fmt.Println(err)
	// Output:
	// true <nil>
	// device proof: proof is from an older epoch: epoch 1700000000, current 1800000000
}
