// Package stellar is Kazna's port to a Stellar network (Network) and its Horizon adapter: accounts, the asset
// issuer, trustlines, payments (single, atomic, or packed by the Batcher across a pool of channel accounts),
// clawback, signers, and the reads reconciliation needs. Amounts cross it as int64 minor units and are converted
// exactly: a value that does not convert is rejected, never rounded. It never uses float64 for money and never
// submits a transaction whose inputs it has not validated.
package stellar
