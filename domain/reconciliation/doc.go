// Package reconciliation holds the pure deciders of Kazna's two reconciliations: a run of the daily
// ledger-vs-Stellar reconciliation with its typed discrepancies and their resolutions (stream
// reconciliation-<guid>), and the status of an inter-bank recon of guide §15 (stream recon-<guid>), whose
// totals a projection computes from settled payments. It performs no I/O and reads no clock.
package reconciliation
