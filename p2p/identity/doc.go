// Package identity holds who a Hearth user is and which devices speak for
// them.
//
// # Concepts
//
//   - A Phrase is the 24-word BIP39 mnemonic (256 bits of entropy) that is the
//     whole of an identity. Its Seed follows BIP39 exactly: NFKD, PBKDF2 with
//     HMAC-SHA512, 2048 rounds, optional passphrase.
//   - The identity key is the Ed25519 key that SLIP-0010 derives from the seed
//     on the hardened path m/48'/5338'/0'/0'/0', the path Keet uses, so one
//     phrase gives the same identity public key in Hearth and in Keet. The
//     secret half is derived when needed and wiped; it is never stored.
//   - Each device has its own Ed25519 device key (the libp2p peer id derives
//     from it) and a sealing key: an HPKE key pair (ML-KEM-768 + X25519,
//     HKDF-SHA256, ChaCha20-Poly1305) to which secrets for the device are
//     sealed.
//   - A Proof is a chain of signatures from the identity key to a device key,
//     byte-compatible with Keet's identity-key proofs (version 1). Every link
//     signs {type 0, epoch in seconds, identity, device}; a device may attest a
//     further device.
//   - A DeviceRecord, signed by a device key, publishes the device's sealing
//     public key and name. A Revocation, signed by the identity key, retires
//     one device. Restoring the phrase starts a new epoch, which invalidates
//     every proof of an older epoch once peers have seen the newer one.
//   - A Local is this device's view of its identity, kept in one file in the
//     home (mode 0600, in a 0700 folder).
//
// # Not here
//
// Networking, rooms and pairing live in other p2p packages; they consume
// proofs and sealing keys from here.
package identity
