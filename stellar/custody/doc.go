// Package custody keeps Kazna's private keys sealed at rest: platform keys (issuer, channels, platform signer)
// under the master key, and every customer's seed under both the master key and the customer's secret from the
// bank's authorization service, so that neither side alone can open it. It seals and opens bytes only; it never
// stores anything itself, never logs or returns key material in errors, and never panics on any input.
package custody
