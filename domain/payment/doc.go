// Package payment is a transfer of e-money between two accounts (guide §10): a draft (CREATED) that the
// sender's bank confirms (PENDING, funds reserved on the sender's account), settled on Stellar (CONFIRMED,
// with the transaction hash) or failed with a reason (FAILED); a draft can be cancelled (CANCELLED). The route
// rules of the guide (which kinds of account may pay which, inside one bank and across two) live here.
// The package is pure: time comes in the commands.
package payment
