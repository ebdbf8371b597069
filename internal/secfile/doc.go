// Package secfile reads and writes files that hold secrets, the way ssh
// treats ~/.ssh: written atomically with mode 0600 inside a 0700 folder, and
// refused when anyone but the owner could read them.
//
// It is not a key store: it knows nothing of what the bytes mean.
package secfile
