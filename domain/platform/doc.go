// Package platform is the processing centre's own aggregate (stream "platform"): its e-money asset, the
// asset's Stellar issuer, the keys that sign platform JWTs, and the platform administrator. It is a pure
// decider: it never performs I/O, never reads a clock and never sees a secret in the clear (keys and seeds
// arrive sealed by custody, passwords as bcrypt hashes).
package platform
