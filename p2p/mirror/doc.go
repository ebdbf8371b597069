// Package mirror is Hearth's blind mirror: a node that keeps rooms it was
// asked to keep, by discovery key, without any room key. It stores every
// log's ciphertext blocks and signed heads after verifying them against the
// writer's signature (package log), serves them over the sync protocol to
// any peer that knows the discovery key, and enforces its owners' policy:
// owners keep and pin without limit, strangers get a byte quota, and the
// least recently used unpinned rooms are evicted when the budget is spent.
package mirror
