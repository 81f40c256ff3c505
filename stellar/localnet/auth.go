package localnet

import (
	"crypto/ed25519"

	"github.com/stellar/go-stellar-sdk/xdr"
)

type thresholdLevel int

const (
	levelLow thresholdLevel = iota
	levelMedium
	levelHigh
)

// opLevel is the threshold an operation needs from its source account (Stellar's "Thresholds" table).
func opLevel(op xdr.Operation) thresholdLevel {
	switch op.Body.Type {
	case xdr.OperationTypeAllowTrust, xdr.OperationTypeSetTrustLineFlags, xdr.OperationTypeBumpSequence:
		return levelLow
	case xdr.OperationTypeAccountMerge:
		return levelHigh
	case xdr.OperationTypeSetOptions:
		if so, ok := op.Body.GetSetOptionsOp(); ok && (so.MasterWeight != nil || so.LowThreshold != nil ||
			so.MedThreshold != nil || so.HighThreshold != nil || so.Signer != nil) {
			return levelHigh
		}
	}
	return levelMedium
}

// sigChecker follows stellar-core's SignatureChecker: signatures are matched in order against the account's
// signers, each signer counts at most once per check, a check stops as soon as the needed weight is reached,
// and a signature that helped no check is "extra" (tx_bad_auth_extra).
type sigChecker struct {
	hash   [32]byte
	sigs   []xdr.DecoratedSignature
	used   []bool
	cache  map[checkKey]bool
	verify map[verifyKey]bool
}

type checkKey struct {
	account string
	needed  uint8
}

type verifyKey struct {
	sig int
	key [32]byte
}

// newSigChecker starts a check of sigs over hash. verified, if not nil, holds verifications already done (see
// preverify) and receives the checker's own: a signature's validity against a key depends on nothing else, so
// a verification done earlier, outside the ledger lock, stands.
func newSigChecker(hash [32]byte, sigs []xdr.DecoratedSignature, verified map[verifyKey]bool) *sigChecker {
	if verified == nil {
		verified = map[verifyKey]bool{}
	}
	return &sigChecker{hash: hash, sigs: sigs, used: make([]bool, len(sigs)),
		cache: map[checkKey]bool{}, verify: verified}
}

// preverify verifies, before any ledger state is read, each signature against the master key of the
// transaction's or an operation's source account whose hint it carries: that is who signs in the common case,
// and ed25519 verification is the dearest part of validation, best done outside the ledger lock. Each
// signature is verified at most once here, so a crafted envelope cannot make this step costlier than checking
// every signature once; signatures of other signers are verified during validation, as before.
func (t *decodedTx) preverify() {
	t.verified = make(map[verifyKey]bool, len(t.sigs))
	for i, sig := range t.sigs {
		key, ok := t.masterKeyForHint([4]byte(sig.Hint))
		if !ok {
			continue
		}
		t.verified[verifyKey{i, key}] = len(sig.Signature) == ed25519.SignatureSize &&
			ed25519.Verify(key[:], t.hash[:], sig.Signature)
	}
}

// masterKeyForHint returns the first source key (the transaction's, then the operations') with the given hint.
func (t *decodedTx) masterKeyForHint(hint [4]byte) ([32]byte, bool) {
	if [4]byte(t.sourceKey[28:32]) == hint {
		return t.sourceKey, true
	}
	for i := range t.ops {
		if k := t.ops[i].sourceKey; [4]byte(k[28:32]) == hint {
			return k, true
		}
	}
	return [32]byte{}, false
}

// checkAccount reports whether the signatures carry the account's threshold for level.
func (c *sigChecker) checkAccount(a *account, level thresholdLevel) bool {
	needed := a.thresholds[level]
	k := checkKey{a.id, needed}
	if ok, done := c.cache[k]; done {
		return ok
	}
	signers := make([]signer, 0, 1+len(a.signers))
	if a.masterWeight > 0 {
		signers = append(signers, signer{address: a.id, key: a.key, weight: a.masterWeight})
	}
	for _, s := range a.signers {
		if s.weight > 0 {
			signers = append(signers, s)
		}
	}
	ok := c.check(signers, int(needed))
	c.cache[k] = ok
	return ok
}

// checkMissing authorises an operation whose source account does not exist yet (it may be created by an
// earlier operation of the same transaction): stellar-core then asks for that key's own signature.
func (c *sigChecker) checkMissing(id string, key [32]byte) bool {
	k := checkKey{id, 0}
	if ok, done := c.cache[k]; done {
		return ok
	}
	ok := c.check([]signer{{address: id, key: key, weight: 1}}, 0)
	c.cache[k] = ok
	return ok
}

func (c *sigChecker) check(signers []signer, needed int) bool {
	total := 0
	for i, sig := range c.sigs {
		for j, s := range signers {
			if !c.valid(i, sig, s.key) {
				continue
			}
			c.used[i] = true
			total += int(s.weight)
			if total >= needed {
				return true
			}
			signers = append(signers[:j:j], signers[j+1:]...)
			break
		}
	}
	return false
}

func (c *sigChecker) valid(i int, sig xdr.DecoratedSignature, key [32]byte) bool {
	if [4]byte(sig.Hint) != [4]byte(key[28:32]) {
		return false
	}
	vk := verifyKey{i, key}
	if ok, done := c.verify[vk]; done {
		return ok
	}
	ok := len(sig.Signature) == ed25519.SignatureSize && ed25519.Verify(key[:], c.hash[:], sig.Signature)
	c.verify[vk] = ok
	return ok
}

// allUsed reports whether every signature contributed to some check.
func (c *sigChecker) allUsed() bool {
	for _, u := range c.used {
		if !u {
			return false
		}
	}
	return true
}
