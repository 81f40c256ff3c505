// Package uniqueness enforces a value that must be unique across aggregates (a counterparty's name, an
// employee's login within a bank, a branch name, later IBANs) with a reservation stream: one tiny stream per
// value, whose first event claims it for one owner. It is a pure decider like any aggregate and never does
// I/O; the app layer runs it with command.Handle before it writes the owner's own stream.
//
// The pattern, for the app layer:
//
//  1. stream := uniqueness.Stream("counterparty-name-", name)  // one stream per normalised value
//  2. command.Handle(ctx, store, stream, uniqueness.Decider, uniqueness.Events,
//     uniqueness.Claim{Owner: guid, Value: name, At: now}, env)
//     A new stream is appended with NoStream, so of two racing claimants one gets a conflict, reloads, sees
//     the claim and is refused with *Taken (errors.Is(err, ErrTaken)); map it to the owner's ErrNameTaken.
//     A claim by the owner that already holds it decides nothing: retrying after a crash is safe.
//  3. Handle the owner's command (Register, Create, Rename…) on its own stream.
//  4. If step 3 is refused, Release the claim (Owner must match); on a rename, Release the old value
//     after the new one is claimed and the rename is written.
//
// A crash between 2 and 3 leaves a claim whose owner never appeared; the same owner retrying re-uses it,
// and a reconciler may release claims whose owner stream does not exist. A claim never blocks its owner.
package uniqueness
