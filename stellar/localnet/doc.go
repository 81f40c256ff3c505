// Package localnet is an embedded Stellar-compatible development network: it serves the part of Horizon's HTTP
// API that horizonclient and txnbuild use, decodes real XDR, checks signatures, sequence numbers, fees and
// reserves, applies classic operations atomically and closes ledgers into a bbolt file.
// It is a development network, not a Stellar node: it has no consensus, peers or history archives, and what it
// accepts is no proof that the public network would accept the same transaction.
package localnet
